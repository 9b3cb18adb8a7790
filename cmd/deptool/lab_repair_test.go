package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
)

// Issue 13, finding 9 and 7: a damaged host store (packs deleted, store
// deleted, disk full mid-pack) is repaired by the next deploy, from the
// operator's store.
func TestADamagedHostStoreIsRepairedByTheNextDeploy(t *testing.T) {
	l := lab.StartFresh(t, "rep1")
	op := newOperator(t, l)
	version := 0
	deploy := func(want int) string {
		t.Helper()
		version++
		op.write(map[string]string{"rep1/app/conf": "v" + strings.Repeat("I", version) + "\n"})
		out, code := op.run("deploy", "--yes", "--settle", "0s")
		if code != want {
			t.Fatalf("deploy %d exited %d, want %d:\n%s", version, code, want, out)
		}
		return out
	}
	converged := func(what string) {
		t.Helper()
		if got := onHost(t, l, "rep1", "cat /var/lib/deptool/apps/app/current/conf"); got != "v"+strings.Repeat("I", version) {
			t.Errorf("%s: the host runs %q, want version %d", what, got, version)
		}
		// The host store is whole again: plain git agrees.
		onHost(t, l, "rep1", "git --git-dir /var/lib/deptool/store fsck --no-dangling --connectivity-only current")
		if out, code := op.run("diff"); code != 0 || !strings.Contains(out, "Nothing to deploy") && strings.Contains(out, "rep1") {
			t.Errorf("%s: diff after the repair exited %d:\n%s", what, code, out)
		}
	}
	deploy(0)

	t.Run("packs deleted", func(t *testing.T) {
		onHost(t, l, "rep1", "rm -f /var/lib/deptool/store/objects/pack/*")
		deploy(0)
		converged("packs deleted")
	})
	t.Run("store deleted", func(t *testing.T) {
		onHost(t, l, "rep1", "rm -rf /var/lib/deptool/store")
		deploy(0)
		converged("store deleted")
	})
	t.Run("disk full while storing a pack", func(t *testing.T) {
		// A small tmpfs over the store: it starts empty, like a deleted
		// store, and a pack larger than it fills it.
		onHost(t, l, "rep1", "mount -t tmpfs -o size=256k tmpfs /var/lib/deptool/store")
		t.Cleanup(func() { l.Exec("rep1", "umount", "-l", "/var/lib/deptool/store") })
		big := make([]byte, 600<<10)
		rand.Read(big)
		op.write(map[string]string{"rep1/app/big": hex.EncodeToString(big)})
		out := deploy(exitHostFailed)
		t.Logf("deploy onto a full disk:\n%s", out)
		if !strings.Contains(out, "no space left on device") {
			t.Errorf("the failure does not say the disk is full:\n%s", out)
		}
		if left := onHost(t, l, "rep1", "ls -A /var/lib/deptool/store/objects/pack"); left != "" {
			t.Errorf("the failed pack left %q behind", left)
		}
		// Without the big file the same small disk takes the deploy.
		if err := os.Remove(filepath.Join(op.root, "prod", "rep1/app/big")); err != nil {
			t.Fatal(err)
		}
		deploy(0)
		converged("disk full")
	})
}

// Issue 13, finding 10: a full disk during first contact (the agent's
// upload) is a failure on a reachable host, not "unreachable"; the next
// deploy, with room again, converges.
func TestAFullDiskAtFirstContactIsNotUnreachable(t *testing.T) {
	l := lab.StartFresh(t, "rep2")
	op := newOperator(t, l)
	onHost(t, l, "rep2", "mkdir -p /var/lib/deptool/bin && mount -t tmpfs -o size=64k tmpfs /var/lib/deptool/bin")
	op.write(map[string]string{"rep2/app/conf": "v1\n"})
	out, code := op.run("deploy", "--yes", "--settle", "0s")
	if code != exitHostFailed || strings.Contains(out, "unreachable") || !strings.Contains(out, "rep2  failed") {
		t.Errorf("deploy onto a full disk exited %d:\n%s", code, out)
	}
	onHost(t, l, "rep2", "umount /var/lib/deptool/bin")
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 {
		t.Errorf("deploy with room again exited %d:\n%s", code, out)
	}
}
