package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/simhost"
)

// simHosts serves the named hosts in process for deptool's commands, in
// place of SSH, for the rest of the test.
func simHosts(t *testing.T, names ...string) *simhost.Fleet {
	t.Helper()
	dir, err := os.MkdirTemp("", "sim") // short: hosts' Unix sockets live under it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := simhost.New(dir, nil)
	for _, n := range names {
		if _, err := f.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	hostDialer = f
	t.Cleanup(func() {
		hostDialer = nil
		f.Wait()
	})
	return f
}

// The team sync around a deploy, on simulated hosts: the records go to
// the remote as soon as the deploy ends, and a clone that deploys next
// takes them in before it plans, so it does not plan again what the team
// already deployed.
func TestSeamDeploySyncsTheTeamBeforeAndAfter(t *testing.T) {
	simHosts(t, "h01")
	remote := bareRepo(t)
	rootA := t.TempDir()
	t.Setenv("DEPTOOL_STORE", filepath.Join(rootA, ".deptool"))
	dirA := filepath.Join(rootA, "prod")
	if _, stderr, err := run(t, "init", "--remote", remote, dirA); err != nil {
		t.Fatalf("init --remote: %v: %s", err, stderr)
	}
	conf := map[string]string{"h01/web/web.conf": "v1\n", "h01/web/manifest.json": `{"symlinks": {"/etc/web.conf": "web.conf"}}`}
	writeFiles(t, dirA, conf)
	if out, stderr, err := run(t, "deploy", "--yes", "-m", "from a", dirA); err != nil {
		t.Fatalf("deploy from a: %v\n%s%s", err, out, stderr)
	}
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"--git-dir", remote}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// After: the deploy and its outcomes are on the remote.
	if got := git("log", "--format=%s", "main"); !strings.Contains(got, "from a") {
		t.Fatalf("remote main after the deploy:\n%s", got)
	}
	if notes := git("notes", "--ref", "deptool", "list"); notes == "" {
		t.Error("no outcome note on the remote")
	}
	// Before: a clone that knew nothing of it plans against it.
	rootB := filepath.Join(t.TempDir(), "b")
	t.Setenv("DEPTOOL_STORE", filepath.Join(rootB, ".deptool"))
	if _, stderr, err := run(t, "clone", remote, rootB); err != nil {
		t.Fatalf("clone: %v: %s", err, stderr)
	}
	dirB := filepath.Join(rootB, "prod")
	writeFiles(t, dirB, conf)
	out, stderr, err := run(t, "deploy", "--yes", "-m", "from b", dirB)
	if err != nil || !strings.Contains(out, "Nothing to deploy") {
		t.Errorf("deploy of the same tree from the clone: %v\n%s%s", err, out, stderr)
	}
	// The remote gone: the deploy goes on from the store alone, and says
	// so once.
	if out, err := exec.Command("git", "--git-dir", filepath.Join(rootB, ".deptool"), "config", "deptool.remote", filepath.Join(t.TempDir(), "gone.git")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	writeFiles(t, dirB, map[string]string{"h01/web/web.conf": "v2\n"})
	out, stderr, err = run(t, "deploy", "--yes", "-m", "offline", dirB)
	if err != nil || strings.Count(stderr, "not reached") != 2 || !strings.Contains(out, "h01") {
		t.Errorf("deploy with the remote gone: %v\n%s%s", err, out, stderr)
	}
}
