package diff

import (
	"sort"
	"strings"
	"testing"

	"github.com/deptool/deptool/store"

	"github.com/deptool/deptool/internal/treetest"
)

// newStore is a store on disk that git fsck --strict checks when the
// test ends: what the planner's callers commit must stay valid for Git.
func newStore(t testing.TB) *store.Store { return treetest.NewStore(t) }

// file is a file in a test tree.
type file struct {
	data string
	exec bool
}

// buildFiles writes a tree from slash-separated paths. A path ending in "/"
// is an empty directory.
func buildFiles(t testing.TB, s *store.Store, files map[string]file) store.ID {
	t.Helper()
	fs := make(map[string]treetest.File, len(files))
	for p, f := range files {
		fs[p] = treetest.File{Data: f.data, Exec: f.exec}
	}
	return treetest.Build(t, s, fs)
}

// buildTree writes a cluster tree from "host/app/path" -> contents. A key
// like "db1/" is a host with no apps.
func buildTree(t testing.TB, s *store.Store, files map[string]string) store.ID {
	t.Helper()
	fs := make(map[string]treetest.File, len(files))
	for p, data := range files {
		fs[p] = treetest.File{Data: data}
	}
	return treetest.Build(t, s, fs)
}

var testTime = treetest.Time

// deploy records tree as deployed on hosts, the way a successful deploy
// does: a deploy commit on main, a host commit per host, refs moved.
func deploy(t testing.TB, s *store.Store, tree store.ID, hosts ...string) store.ID {
	t.Helper()
	return treetest.RecordDeploy(t, s, tree, hosts...)
}

func mustPlan(t testing.TB, s *store.Store, tree store.ID, opts PlanOptions) *Plan {
	t.Helper()
	p, err := MakePlan(s, tree, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// countingSource records which trees and blobs the planner opens.
type countingSource struct {
	*store.Store
	trees map[store.ID]int
	blobs map[store.ID]int
}

func newCounting(s *store.Store) *countingSource {
	return &countingSource{Store: s, trees: map[store.ID]int{}, blobs: map[store.ID]int{}}
}

func (c *countingSource) ReadTree(id store.ID) ([]store.Entry, error) {
	c.trees[id]++
	return c.Store.ReadTree(id)
}

func (c *countingSource) ReadBlob(id store.ID) ([]byte, error) {
	c.blobs[id]++
	return c.Store.ReadBlob(id)
}

// subtree returns the id at a slash-separated path below tree.
func subtree(t testing.TB, s *store.Store, tree store.ID, p string) store.ID {
	t.Helper()
	id := tree
	for _, name := range strings.Split(p, "/") {
		entries, err := s.ReadTree(id)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if e.Name == name {
				id, found = e.ID, true
			}
		}
		if !found {
			t.Fatalf("no %s in tree", p)
		}
	}
	return id
}

func problemPaths(err error) []string {
	ve, ok := err.(*ValidationError)
	if !ok {
		return nil
	}
	var out []string
	for _, p := range ve.Problems {
		out = append(out, p.Path)
	}
	sort.Strings(out)
	return out
}

// scenario is treetest's: v1 deployed to web1, db1 and gone1, and a
// desired tree that changes web1, keeps db1, adds web2 and drops gone1.
func scenario(t testing.TB) (*store.Store, store.ID) { return treetest.Scenario(t) }
