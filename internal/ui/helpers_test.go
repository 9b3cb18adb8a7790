package ui

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/storetest"
	"github.com/deptool/deptool/store"
	"github.com/google/go-cmp/cmp"
)

// The printers of plans, diffs and status are tested on plans the real
// planner makes from real stores: what they show is what deptool shows.

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// newStore is a store on disk that git fsck --strict checks when the
// test ends.
func newStore(t testing.TB) *store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".deptool")
	storetest.Fsck(t, path)
	s, err := store.Init(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// file is a file in a test tree.
type file struct {
	data string
	exec bool
}

// buildFiles writes a cluster tree from "host/app/path" -> file.
func buildFiles(t testing.TB, s *store.Store, files map[string]file) store.ID {
	t.Helper()
	type node struct {
		files map[string]file
		dirs  map[string]*node
	}
	newNode := func() *node { return &node{files: map[string]file{}, dirs: map[string]*node{}} }
	root := newNode()
	for p, f := range files {
		parts := strings.Split(p, "/")
		n := root
		for _, d := range parts[:len(parts)-1] {
			if n.dirs[d] == nil {
				n.dirs[d] = newNode()
			}
			n = n.dirs[d]
		}
		if last := parts[len(parts)-1]; last != "" { // "db1/": a host with no apps
			n.files[last] = f
		}
	}
	var write func(n *node) store.ID
	write = func(n *node) store.ID {
		var entries []store.Entry
		for name, f := range n.files {
			id, err := s.WriteBlob([]byte(f.data))
			if err != nil {
				t.Fatal(err)
			}
			mode := store.ModeFile
			if f.exec {
				mode = store.ModeExecutable
			}
			entries = append(entries, store.Entry{Name: name, Mode: mode, ID: id})
		}
		for name, d := range n.dirs {
			entries = append(entries, store.Entry{Name: name, Mode: store.ModeDir, ID: write(d)})
		}
		id, err := s.WriteTree(entries)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	return write(root)
}

func buildTree(t testing.TB, s *store.Store, files map[string]string) store.ID {
	t.Helper()
	fs := make(map[string]file, len(files))
	for p, data := range files {
		fs[p] = file{data: data}
	}
	return buildFiles(t, s, fs)
}

var testTime = time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)

// recordDeploy records tree as deployed on hosts, the way a successful deploy
// does: a deploy commit on main, a host commit per host, refs moved.
func recordDeploy(t testing.TB, s *store.Store, tree store.ID, hosts ...string) store.ID {
	t.Helper()
	commit, err := s.Commit(tree, "deploy", "alice@laptop", testTime)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.ReadTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		hostTree := store.EmptyTree
		for _, e := range entries {
			if e.Name == h {
				hostTree = e.ID
			}
		}
		if hostTree == store.EmptyTree {
			if _, err := s.WriteTree(nil); err != nil {
				t.Fatal(err)
			}
		}
		hc, err := s.CommitHost(h, hostTree, commit, "alice@laptop", testTime)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetHostRef(h, hc); err != nil {
			t.Fatal(err)
		}
	}
	return commit
}

func mustPlan(t testing.TB, s *store.Store, tree store.ID, opts diff.PlanOptions) *diff.Plan {
	t.Helper()
	p, err := diff.MakePlan(s, tree, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// golden compares got with testdata/<name>.golden, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/ui -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", path, d)
	}
}

func hostPlans(names ...string) []diff.HostPlan {
	var hs []diff.HostPlan
	for _, n := range names {
		hs = append(hs, diff.HostPlan{Host: n})
	}
	return hs
}
