package ui

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/treetest"
	"github.com/deptool/deptool/store"
	"github.com/google/go-cmp/cmp"
)

// The printers of plans, diffs and status are tested on plans the real
// planner makes from real stores: what they show is what deptool shows.

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func newStore(t testing.TB) *store.Store { return treetest.NewStore(t) }

func recordDeploy(t testing.TB, s *store.Store, tree store.ID, hosts ...string) store.ID {
	t.Helper()
	return treetest.RecordDeploy(t, s, tree, hosts...)
}

func scenario(t testing.TB) (*store.Store, store.ID) { return treetest.Scenario(t) }

func buildTree(t testing.TB, s *store.Store, files map[string]string) store.ID {
	t.Helper()
	fs := make(map[string]treetest.File, len(files))
	for p, data := range files {
		fs[p] = treetest.File{Data: data}
	}
	return treetest.Build(t, s, fs)
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
