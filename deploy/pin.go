package deploy

import (
	"fmt"
	"github.com/deptool/deptool/diff"
	"slices"
	"strings"

	"github.com/deptool/deptool/store"
)

// pinHost is Transaction.Pin without the transaction.
func pinHost(s *store.Store, host, rev string) (store.ID, error) {
	at, err := pinTarget(s, host, rev)
	if err != nil {
		return store.ZeroID, err
	}
	return at, s.Pin(host, at)
}

func pinTarget(s *store.Store, host, rev string) (store.ID, error) {
	if rev != "" {
		return s.Resolve(rev)
	}
	id, ok, err := s.HostRef(host)
	if err != nil {
		return store.ZeroID, err
	}
	if !ok {
		known, err := s.HostRefs()
		if err != nil {
			return store.ZeroID, err
		}
		names := make([]string, 0, len(known))
		for h := range known {
			names = append(names, h)
		}
		slices.Sort(names)
		deployed := "none yet"
		if len(names) > 0 {
			deployed = strings.Join(names, ", ")
		}
		return store.ZeroID, fmt.Errorf("host %s was never deployed from this store, so there is nothing to pin it at%s (deployed hosts: %s); or name a commit: deptool pin HOST REV", host, diff.DidYouMean(host, names), deployed)
	}
	deploy, found, err := s.DeployOf(id)
	if err != nil || !found {
		return id, err
	}
	return deploy, nil
}
