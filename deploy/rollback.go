package deploy

import (
	"fmt"
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
			return nil, fmt.Errorf("commit %s has no configuration for host %s: it never deployed there (see 'deptool log')", target.Short(), host)
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
