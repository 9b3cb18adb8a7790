package deploy

import (
	"fmt"
	"github.com/deptool/deptool/diff"
	"slices"
	"strings"

	"github.com/deptool/deptool/store"
)

// Rollback is what deploying an earlier version again means: the tree to
// deploy, the hosts it selects and the deploy commit's message.
type Rollback struct {
	Tree    store.ID
	Hosts   []string
	Message string
}

// RollbackTo builds a rollback to deploy commit target: main's tree with
// the selected hosts' subtrees taken from target. Without hosts, every
// host target had is selected. History only moves forward: the result is
// deployed as a new commit.
func RollbackTo(s *store.Store, target store.ID, hosts []string) (*Rollback, error) {
	old, err := s.CommitInfo(target)
	if err != nil {
		return nil, fmt.Errorf("%s is not a deploy commit: %w", target.Short(), err)
	}
	oldHosts, err := s.ReadTree(old.Tree)
	if err != nil {
		return nil, err
	}
	selected := hosts
	if len(selected) == 0 {
		for _, e := range oldHosts {
			selected = append(selected, e.Name)
		}
	}
	var base []store.Entry
	from, ok, err := s.Main()
	if err != nil {
		return nil, err
	}
	if ok {
		info, err := s.CommitInfo(from)
		if err != nil {
			return nil, err
		}
		if base, err = s.ReadTree(info.Tree); err != nil {
			return nil, err
		}
	}
	for _, host := range selected {
		i := slices.IndexFunc(oldHosts, func(e store.Entry) bool { return e.Name == host })
		if i < 0 {
			names := make([]string, len(oldHosts))
			for i, e := range oldHosts {
				names[i] = e.Name
			}
			return nil, fmt.Errorf("commit %s has no configuration for host %s%s: it never deployed there (see 'deptool log')", target.Short(), host, diff.DidYouMean(host, names))
		}
		base = slices.DeleteFunc(base, func(e store.Entry) bool { return e.Name == host })
		base = append(base, oldHosts[i])
	}
	tree, err := s.WriteTree(base)
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("rollback to %s\n\nFrom: %s\nTo: %s\nHosts: %s\n", target.Short(), from, target, strings.Join(selected, ", "))
	return &Rollback{Tree: tree, Hosts: selected, Message: msg}, nil
}

// RollbackTarget resolves to (an id as 'deptool log' shows it, main~N,
// or the source-of-truth commit a deploy was generated from) to the
// deploy commit a rollback goes back to, and refuses one the store's
// trusted signers did not sign.
func RollbackTarget(s *store.Store, to string) (store.ID, error) {
	target, err := s.Resolve(to)
	if err != nil {
		// Not a store commit: perhaps the source-of-truth commit a
		// deploy was generated from.
		id, ok, serr := BySource(s, to)
		if serr != nil || !ok {
			return store.ZeroID, err
		}
		target = id
	}
	trust, err := NewTrust(s)
	if err != nil {
		return store.ZeroID, err
	}
	if v := trust.Verify(target); v.Problem != "" {
		return store.ZeroID, fmt.Errorf("refusing to roll back to %s: %s; it may have been pushed by someone other than your team (see docs/security.md)", target.Short(), v.Problem)
	}
	return target, nil
}
