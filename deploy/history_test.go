package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/deptool/deptool/store"
)

// versions commits each tree of files as a deploy with its outcomes and
// returns the store, checked by git fsck --strict when the test ends.
func versions(t *testing.T, trees []map[string]string, outcomes []map[string]Outcome) *store.Store {
	t.Helper()
	s, err := store.Init(filepath.Join(t.TempDir(), ".deptool"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("git", "--git-dir", s.Path(), "fsck", "--strict").CombinedOutput(); err != nil {
			t.Errorf("git fsck --strict: %v\n%s", err, out)
		}
	})
	when := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i, files := range trees {
		dir := t.TempDir()
		for name, body := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		snap, err := s.Snapshot(dir)
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.Commit(snap.Tree, "deploy", "ann@laptop", when.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		res := Result{Deploy: id}
		for h, o := range outcomes[i] {
			res.Hosts = append(res.Hosts, HostResult{Host: h, Outcome: o})
		}
		note, _ := json.Marshal(res)
		if err := s.RecordOutcomes(id, note, "ann@laptop", when); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// The rollback picker's default skips a version that broke hosts, and
// each entry says how its hosts ended and which apps it changed.
func TestRollbackDefaultSkipsAVersionThatBrokeHosts(t *testing.T) {
	s := versions(t, []map[string]string{
		{"web1/site/index.html": "1", "web2/site/index.html": "1"},
		{"web1/site/index.html": "2", "web2/site/index.html": "1"},
		{"web1/site/index.html": "2", "web1/db/db.conf": "x", "web2/site/index.html": "3"},
		{"web1/site/index.html": "4", "web2/site/index.html": "4"},
	}, []map[string]Outcome{
		{"web1": Deployed, "web2": Deployed},
		{"web1": Deployed},
		{"web1": RolledBack, "web2": Deployed},
		{"web1": Deployed, "web2": Deployed},
	})
	entries, err := DeployedVersions(s, nil)
	if err != nil || len(entries) != 4 {
		t.Fatalf("%d versions, %v", len(entries), err)
	}
	if got := DefaultRollback(entries); got != 2 {
		t.Errorf("default %d, want 2: the version before the current one rolled web1 back", got)
	}
	if got, want := entries[1].Counts(), "1 deployed, 1 rolled back"; got != want {
		t.Errorf("counts %q, want %q", got, want)
	}
	apps, err := ChangedApps(s, entries[1].Commit, nil)
	if err != nil || !slices.Equal(apps, []string{"db", "site"}) {
		t.Errorf("changed apps %v, %v; want db, site", apps, err)
	}
	if apps, _ := ChangedApps(s, entries[1].Commit, []string{"web2"}); !slices.Equal(apps, []string{"site"}) {
		t.Errorf("changed apps on web2 %v; want site", apps)
	}
	if apps, _ := ChangedApps(s, entries[3].Commit, nil); !slices.Equal(apps, []string{"site"}) {
		t.Errorf("changed apps of the first deploy %v; want site", apps)
	}
	// None earlier deployed everywhere: the one before the current.
	if got := DefaultRollback([]Entry{entries[0], entries[1]}); got != 1 {
		t.Errorf("default %d, want 1", got)
	}
}
