package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/store"
)

// pin and unpin take a host's name through the same gate as the config
// tree, and pin holds a host only at a deploy of main that has it: no
// name moves another ref, writes a file outside the store or leaves a
// ref git refuses (run has git fsck --strict check the store).
func TestPinRefusesNamesAndCommitsThatAreNoDeployOfTheHost(t *testing.T) {
	dir := newCluster(t, twoHosts)
	s, err := store.Open(os.Getenv("DEPTOOL_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d, err := s.Commit(snap.Tree, "deploy", "ann@laptop", when)
	if err != nil {
		t.Fatal(err)
	}
	note, _ := json.Marshal(deploy.Result{Deploy: d})
	if err := s.RecordOutcomes(d, note, "ann@laptop", when); err != nil {
		t.Fatal(err)
	}
	notes, err := s.Resolve("refs/notes/deptool")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pin", "../heads/main", notes.String()}, `host "../heads/main": host name contains '/'`},
		{[]string{"pin", "../../../escaped", "main"}, `host "../../../escaped": host name contains '/'`},
		{[]string{"pin", "bad name!", "main"}, `host "bad name!": host name contains ' '`},
		{[]string{"pin", "web1", notes.String()}, "is not a deploy on main"},
		{[]string{"pin", "web2", "main"}, "has no host web2"},
		{[]string{"unpin", "../heads/main"}, `host "../heads/main": host name contains '/'`},
		{[]string{"log", "--remote", "-oProxyCommand=x"}, `host name contains '='`},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "host name") > 1 {
			t.Errorf("%q: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
	if main, _, _ := s.Main(); main != d {
		t.Errorf("main is at %s, want %s", main, d)
	}
	if pins, _ := s.Pins(); len(pins) != 0 {
		t.Errorf("pins = %v, want none", pins)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.Path()), "escaped")); err == nil {
		t.Error("pin wrote a file outside the store")
	}
	if out, _, err := run(t, "pin", "web1", "main"); err != nil || !strings.Contains(out, "Pinned web1") {
		t.Errorf("pin web1 main: %v\n%s", err, out)
	}
}
