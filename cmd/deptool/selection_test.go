package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/store"
)

func fleetFiles(n int) map[string]string {
	files := map[string]string{"db1/postgres/postgresql.conf": "max_connections = 10\n"}
	for i := 1; i <= n; i++ {
		files[fmt.Sprintf("web%02d/nginx/nginx.conf", i)] = "worker_processes 1;\n"
	}
	return files
}

// --limit takes globs and @groups from the cluster's groups.json, which is
// read but not deployed; bad groups.json stops every command at once.
func TestLimitTakesGlobsAndGroups(t *testing.T) {
	files := fleetFiles(12)
	files["groups.json"] = `{"groups": {"front": ["web0[1-3]", "web12"], "data": ["db*"]}}`
	dir := newCluster(t, files)
	out, stderr, err := run(t, "deploy", "--plan-only", "--limit", "@front,db1", dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "groups.json") {
		t.Errorf("groups.json reported ignored: %s", stderr)
	}
	if !strings.HasPrefix(out, "db1\n") || !strings.Contains(out, "\nweb01..web03, web12 (4 hosts)\n") || strings.Contains(out, "web04") {
		t.Errorf("plan for @front,db1:\n%s", out)
	}
	out, _, err = run(t, "status", "--verbose", "--limit", "web1?")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "web1") != 3 || strings.Contains(out, "web09") {
		t.Errorf("status --limit web1?:\n%s", out)
	}
	for _, tc := range []struct{ args, want string }{
		{"deploy --plan-only --limit @fornt", "unknown group @fornt (did you mean @front?)"},
		{"deploy --plan-only --limit wbe*", `glob "wbe*" matches no host in the config tree (did you mean web01?)`},
		{"diff --limit web1", "unknown host web1 (did you mean web01?)"},
		{"deploy --plan-only --max-fail 2", "--max-fail needs --batch"},
		{"deploy --plan-only --batch 2 --max-fail 2x", `max-fail "2x"`},
	} {
		_, _, err := run(t, strings.Fields(tc.args)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to say %q", tc.args, err, tc.want)
		}
	}
	// A fixed canary group the plan leaves alone does not block it.
	out, _, err = run(t, "deploy", "--plan-only", "--canary", "@data", "--limit", "@front", "--batch", "2")
	if err != nil || !strings.Contains(out, "canary @data selects no host this plan changes: no canary stage, the rollout starts with the next") || strings.Contains(out, ". canary:") {
		t.Errorf("a plan whose canary group it leaves alone: %v\n%s", err, out)
	}
	writeFiles(t, dir, map[string]string{"groups.json": `{"groups": {"front": ["web7"]}}`})
	_, _, err = run(t, "status")
	if err == nil || !strings.Contains(err.Error(), "prod/groups.json: group front: unknown host web7 (did you mean web07?)") {
		t.Errorf("status with a bad groups.json: %v", err)
	}
}

// The plan of a large fleet of identical hosts fits a screen, rollout
// included.
func TestPlanOfManyIdenticalHostsFitsAScreen(t *testing.T) {
	dir := newCluster(t, fleetFiles(40))
	out, _, err := run(t, "deploy", "--plan-only", "--canary", "web01", "--batch", "2", "--max-fail", "2", dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "\n"); n > 20 {
		t.Errorf("plan is %d lines:\n%s", n, out)
	}
	for _, want := range []string{"web01..web40 (40 hosts)\n    add nginx\n", "Total: 41 hosts; apps: 41 added", "more than 2 hosts have not deployed (--max-fail 2)", "2-21. 20 batches of 2: db1, web02..web40 (40 hosts)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}

// rollback resolves globs against the hosts of the version it goes back to.
func TestRollbackTakesGlobs(t *testing.T) {
	dir := newCluster(t, fleetFiles(3))
	s, err := store.Open(os.Getenv("DEPTOOL_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(snap.Tree, "v1", "op@x", time.Now()); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "rollback", "--to", "main", "--limit", "web0[12]", "--plan-only")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "web01, web02 (2 hosts)\n") || strings.Contains(out, "db1") || strings.Contains(out, "web03") {
		t.Errorf("rollback --limit web0[12] plan:\n%s", out)
	}
	if _, _, err := run(t, "rollback", "--to", "main", "--limit", "dbx*", "--plan-only"); err == nil || !strings.Contains(err.Error(), `glob "dbx*" matches no host in the config tree (did you mean db1?)`) {
		t.Errorf("rollback with a glob matching nothing: %v", err)
	}
}

// An empty selection is an error, never "every host": --limit "$HOSTS"
// with HOSTS unset must not deploy everywhere. Every command with a
// selection refuses it, and says how to select all.
func TestEmptySelectionIsRefusedWithHowToSelectAll(t *testing.T) {
	dir := newCluster(t, map[string]string{"a/x/f": "1", "b/x/f": "2"})
	for _, args := range [][]string{
		{"deploy", "--plan-only", "--limit", ""},
		{"deploy", "--plan-only", "--limit", ","},
		{"deploy", "--plan-only", "--limit", "a,,b"},
		{"deploy", "--plan-only", "--limit", "a", "--limit", " "},
		{"status", "--limit", ""},
		{"diff", "--limit", ""},
		{"check", "--limit", ""},
		{"sync", "--limit", ""},
		{"ping", "--limit", ""},
		{"log", "--limit", ""},
		{"rollback", "--to", "main", "--limit", ""},
	} {
		out, _, err := run(t, append(args, dir)...)
		if err == nil || !strings.Contains(err.Error(), "selects nothing") || !strings.Contains(err.Error(), "leave out --limit") {
			t.Errorf("%q: error %v, want a refusal saying how to select all\n%s", args, err, out)
		}
	}
	for _, canary := range []string{"", ",", "a,"} {
		_, _, err := run(t, "deploy", "--plan-only", "--canary", canary, dir)
		if err == nil || !strings.Contains(err.Error(), "leave out --canary") {
			t.Errorf("--canary %q: error %v, want a refusal saying how to go without a canary", canary, err)
		}
	}
	writeFiles(t, dir, map[string]string{"groups.json": `{"groups": {"g": ["a", ""]}}`})
	if _, _, err := run(t, "status"); err == nil || !strings.Contains(err.Error(), "group g lists an empty name") {
		t.Errorf("a group with an empty member: %v", err)
	}
}
