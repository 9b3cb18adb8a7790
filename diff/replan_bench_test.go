package diff

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deptool/deptool/store"
)

// replanTree is the 1,000-host cluster on disk with a store that has
// snapshotted and deployed it. Writing 200,000 files and hashing them cold
// takes far longer than a re-plan, so it is made once per test process and
// shared by every -count run.
var replanTree struct {
	once       sync.Once
	dir, store string
	err        error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if replanTree.dir != "" && os.Getenv(keepReplanTree) == "" {
		os.RemoveAll(filepath.Dir(replanTree.dir))
	}
	os.Exit(code)
}

// keepReplanTree names a directory to keep the generated tree and store
// in, and to reuse them from, so that profiles of the re-plan are not
// swamped by generating it.
const keepReplanTree = "DEPTOOL_BENCH_REPLAN_DIR"

// writeSynthetic writes the synthetic cluster into dir as files.
func writeSynthetic(dir string, hosts, apps int, version string) error {
	for h := range hosts {
		host := syntheticHost(h)
		for a := range apps {
			for p, data := range syntheticApp(host, a, version) {
				name := filepath.Join(dir, host, fmt.Sprintf("app%d", a), filepath.FromSlash(p))
				if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func setUpReplan(hosts int) (dir, storePath string, err error) {
	tmp := os.Getenv(keepReplanTree)
	if tmp == "" {
		if tmp, err = os.MkdirTemp("", "deptool-replan-"); err != nil {
			return "", "", err
		}
	}
	dir, storePath = filepath.Join(tmp, "prod"), filepath.Join(tmp, ".deptool")
	if _, err := os.Stat(filepath.Join(tmp, "ready")); err == nil {
		return dir, storePath, nil
	}
	if err := writeSynthetic(dir, hosts, 10, "v1"); err != nil {
		return dir, "", err
	}
	s, err := store.Init(storePath)
	if err != nil {
		return dir, "", err
	}
	snap, err := s.Snapshot(dir)
	if err != nil {
		return dir, "", err
	}
	if err := deployTree(s, snap.Tree); err != nil {
		return dir, "", err
	}
	// Files written less than the stat cache's racy window before a
	// snapshot are read again by the next one. The cold snapshot above
	// takes far longer than that window, so after one more snapshot every
	// file is remembered, as in a tree generated a while ago.
	if _, err = s.Snapshot(dir); err != nil {
		return dir, storePath, err
	}
	return dir, storePath, os.WriteFile(filepath.Join(tmp, "ready"), nil, 0o644)
}

// deployTree records tree as accepted by every host, as a deploy would.
func deployTree(s *store.Store, tree store.ID) error {
	commit, err := s.Commit(tree, "deploy", "bench@host", testTime)
	if err != nil {
		return err
	}
	hosts, err := s.ReadTree(tree)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		hc, err := s.CommitHost(h.Name, h.ID, commit, "bench@host", testTime)
		if err != nil {
			return err
		}
		if err := s.SetHostRef(h.Name, hc); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkReplan1000HostsUnchanged re-plans the 1,000-host cluster (200,000
// files) as the CLI does, with nothing changed since the last deploy: open
// the store, snapshot the tree through the stat cache, validate, plan.
// Goal: 500 ms or less.
func BenchmarkReplan1000HostsUnchanged(b *testing.B) {
	replanTree.once.Do(func() {
		start := time.Now()
		replanTree.dir, replanTree.store, replanTree.err = setUpReplan(1000)
		b.Logf("generated and deployed the tree in %v", time.Since(start).Round(time.Second))
	})
	if replanTree.err != nil {
		b.Fatal(replanTree.err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s, err := store.Open(replanTree.store)
		if err != nil {
			b.Fatal(err)
		}
		snap, err := s.Snapshot(replanTree.dir)
		if err != nil {
			b.Fatal(err)
		}
		if err := Validate(s, snap, replanTree.dir); err != nil {
			b.Fatal(err)
		}
		p, err := MakePlan(s, snap.Tree, PlanOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if !p.Empty() {
			b.Fatalf("unchanged cluster has a plan for %d hosts", len(p.Hosts))
		}
	}
}
