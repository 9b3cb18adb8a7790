package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/storetest"
)

// A remote that refuses a push was reached: deptool says it refused, with
// what the remote said, not that it was not reached.
func TestARemotesRefusalIsReportedWithItsMessage(t *testing.T) {
	root := t.TempDir()
	remote := filepath.Join(root, "team.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", remote).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	storetest.Fsck(t, remote)
	hook := "#!/bin/sh\necho 'deploys are frozen until Monday' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(remote, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DEPTOOL_STORE", filepath.Join(root, ".deptool"))
	_, stderr, err := run(t, "init", "--remote", remote, filepath.Join(root, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "not reached") || !strings.Contains(stderr, "refused") || !strings.Contains(stderr, "deploys are frozen until Monday") {
		t.Errorf("init against a remote whose hook refuses, stderr:\n%s", stderr)
	}
}
