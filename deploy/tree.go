package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/deptool/deptool/deploy/secret"
	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// Tree is a cluster's config tree on disk, hashed into the store and
// checked: what a transaction plans from.
type Tree struct {
	Snap *store.Snapshot
	// Hosts are the tree's hosts, sorted; Groups its groups.json.
	Hosts  []string
	Groups diff.Groups
}

// LoadTree hashes the config tree in dir into s and checks it: secrets
// against the host keys known_hosts holds (offline, and only for hosts
// that have secrets), groups.json against the tree's hosts. Nothing is
// committed: a tree that fails leaves no trace. ignored, when set, hears
// first of the entries the tree holds that are not deployed.
func LoadTree(s *store.Store, dir string, ignored func([]string)) (*Tree, error) {
	snap, err := s.Snapshot(dir)
	if err != nil {
		return nil, err
	}
	// groups.json is read, just not deployed.
	snap.Ignored = slices.DeleteFunc(snap.Ignored, func(p string) bool { return p == diff.GroupsFile })
	if len(snap.Ignored) > 0 && ignored != nil {
		ignored(snap.Ignored)
	}
	if err := diff.ValidateSecrets(s, snap, dir, secret.KnownHosts(transport.Options{})); err != nil {
		return nil, err
	}
	hosts, err := diff.HostNames(s, snap.Tree, nil)
	if err != nil {
		return nil, err
	}
	groups, err := LoadGroups(dir, hosts)
	if err != nil {
		return nil, err
	}
	return &Tree{Snap: snap, Hosts: hosts, Groups: groups}, nil
}

// LoadGroups reads the cluster's groups.json in dir, if it has one,
// against the hosts of its tree.
func LoadGroups(dir string, hosts []string) (diff.Groups, error) {
	data, err := os.ReadFile(filepath.Join(dir, diff.GroupsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	g, err := diff.ParseGroups(data, hosts)
	if err != nil {
		return nil, fmt.Errorf("%s/%w", filepath.Clean(dir), err)
	}
	return g, nil
}
