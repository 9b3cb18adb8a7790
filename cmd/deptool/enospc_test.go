package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 24, item 4: the operator's disk fills during a commit. go-git
// left objects/pack/tmp_obj_* behind, and every later command failed with
// ENOSPC and left one more. The store lives on a small tmpfs of the test's
// own: the failed command leaves nothing, and with the large file gone
// the next deploy plans and commits.
func TestAFullOperatorDiskDuringACommitHeals(t *testing.T) {
	root := t.TempDir()
	disk := filepath.Join(root, "disk")
	if err := os.Mkdir(disk, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", disk).Run() })
	sshConfig := filepath.Join(root, "ssh_config")
	conf := "Host advp\n  HostName 127.0.0.1\n  Port 1\n  User root\n  UserKnownHostsFile " + filepath.Join(root, "known_hosts") + "\n"
	if err := os.WriteFile(sshConfig, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	op := &operator{t: t, bin: deptoolBinary(t), root: root,
		env: append(os.Environ(), "DEPTOOL_SSH_CONFIG="+sshConfig, "NO_COLOR=1", "DEPTOOL_STORE="+filepath.Join(disk, ".deptool"))}
	if out, code := op.run("init", "prod"); code != 0 {
		t.Fatalf("init: %s", out)
	}
	big := make([]byte, 1200<<10)
	rand.Read(big)
	op.write(map[string]string{"advp/app/app.conf": "p\n", "advp/app/big": hex.EncodeToString(big)})
	for range 2 {
		out, code := op.run("deploy", "--yes")
		if code == 0 || !strings.Contains(out, "no space left on device") {
			t.Fatalf("deploy onto a full disk exited %d:\n%s", code, out)
		}
	}
	left, _ := filepath.Glob(filepath.Join(disk, ".deptool", "objects", "pack", "tmp_*"))
	if len(left) > 0 {
		t.Errorf("the failed commits left %q", left)
	}
	if err := os.Remove(filepath.Join(root, "prod", "advp", "app", "big")); err != nil {
		t.Fatal(err)
	}
	out, code := op.run("deploy", "--yes")
	if code != exitHostFailed || !strings.Contains(out, "advp") {
		t.Fatalf("deploy with room again exited %d (want only the unreachable host failed):\n%s", code, out)
	}
	if out, err := exec.Command("git", "--git-dir", filepath.Join(disk, ".deptool"), "fsck", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck: %v\n%s", err, out)
	}
}
