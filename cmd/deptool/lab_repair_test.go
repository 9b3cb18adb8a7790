package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/lab"
)

// Issue 13, finding 9 and 7: a damaged host store (packs deleted, store
// deleted, disk full mid-pack) is repaired by the next deploy, from the
// operator's store.
func TestADamagedHostStoreIsRepairedByTheNextDeploy(t *testing.T) {
	l := lab.StartFresh(t, "rep1")
	op := newOperator(t, l)
	version := 0
	// keep is a file no deploy changes: its blob is in the host store
	// already, so no pack after the first carries it.
	op.write(map[string]string{"rep1/app/keep": "unchanged\n", "rep1/other/keep": "unchanged too\n"})
	deploy := func(t *testing.T, want int) string {
		t.Helper()
		version++
		op.write(map[string]string{"rep1/app/conf": "v" + strings.Repeat("I", version) + "\n"})
		out, code := op.run("deploy", "--yes", "--settle", "0s")
		if code != want {
			t.Fatalf("deploy %d exited %d, want %d:\n%s", version, code, want, out)
		}
		return out
	}
	converged := func(t *testing.T, what string) {
		t.Helper()
		if got := onHost(t, l, "rep1", "cat /var/lib/deptool/apps/app/current/conf /var/lib/deptool/apps/app/current/keep"); got != "v"+strings.Repeat("I", version)+"\nunchanged" {
			t.Errorf("%s: the host runs %q, want version %d", what, got, version)
		}
		// The host store is whole again: plain git agrees.
		onHost(t, l, "rep1", "git --git-dir /var/lib/deptool/store fsck --no-dangling --connectivity-only current")
		if out, code := op.run("diff"); code != 0 || !strings.Contains(out, "Nothing to deploy") && strings.Contains(out, "rep1") {
			t.Errorf("%s: diff after the repair exited %d:\n%s", what, code, out)
		}
	}
	deploy(t, 0)

	t.Run("packs deleted", func(t *testing.T) {
		onHost(t, l, "rep1", "rm -f /var/lib/deptool/store/objects/pack/*")
		deploy(t, 0)
		converged(t, "packs deleted")
	})
	t.Run("store deleted", func(t *testing.T) {
		onHost(t, l, "rep1", "rm -rf /var/lib/deptool/store")
		deploy(t, 0)
		converged(t, "store deleted")
	})
	t.Run("journal cut short", func(t *testing.T) {
		// The last line loses its end, as a crash or a full disk leaves it.
		onHost(t, l, "rep1", "f=/var/lib/deptool/journal.jsonl; truncate -s $(( $(stat -c %s $f) - 30 )) $f")
		out, code := op.run("log", "--remote", "rep1")
		if code != 0 || !strings.Contains(out, "warning: host rep1: journal /var/lib/deptool/journal.jsonl line 3 is damaged and left out") || !strings.Contains(out, "deployed") {
			t.Errorf("log --remote of a cut journal exited %d:\n%s", code, out)
		}
		deploy(t, 0)
		converged(t, "journal cut short")
		if got := onHost(t, l, "rep1", "tail -n 1 /var/lib/deptool/journal.jsonl | head -c 1"); got != "{" {
			t.Errorf("the new journal line starts with %q, not on a line of its own", got)
		}
		if out, code := op.run("log", "--remote", "rep1"); code != 0 || strings.Count(out, "deployed") != 3 {
			t.Errorf("log --remote after the next deploy exited %d (want 3 deploys listed):\n%s", code, out)
		}
	})
	t.Run("disk full while storing a pack", func(t *testing.T) {
		// A small tmpfs over the store: it starts empty, like a deleted
		// store, and a pack larger than it fills it.
		onHost(t, l, "rep1", "mkdir -p /var/lib/deptool/store && mount -t tmpfs -o size=256k tmpfs /var/lib/deptool/store")
		t.Cleanup(func() { l.Exec("rep1", "umount", "-l", "/var/lib/deptool/store") })
		big := make([]byte, 600<<10)
		rand.Read(big)
		op.write(map[string]string{"rep1/app/big": hex.EncodeToString(big)})
		out := deploy(t, exitHostFailed)
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
		deploy(t, 0)
		converged(t, "disk full")
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

// Issue 24, item 3: `systemctl disable --now` on a host removes the
// app's unit link and stops the unit. Every deploy of the app then ended
// "rollback failed" (restart svc.service: Unit svc.service not found).
// Now the deploy puts the link, the enablement and the running unit back
// first: it deploys, and a failing version after the same drift rolls
// back cleanly to a running unit.
func TestAUnitDisabledByHandDoesNotWedgeTheHost(t *testing.T) {
	l := lab.StartFresh(t, "drf1")
	op := newOperator(t, l)
	unit := "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n"
	manifest := `{"systemd": {"units_enabled": ["svc.service"]}}`
	op.write(map[string]string{"drf1/app/systemd/svc.service": unit, "drf1/app/manifest.json": manifest, "drf1/app/conf": "1\n"})
	if out, code := op.run("deploy", "--yes", "--settle", "1s"); code != 0 {
		t.Fatalf("first deploy exited %d:\n%s", code, out)
	}
	state := func() string {
		return onHost(t, l, "drf1", "systemctl is-enabled svc.service; systemctl is-active svc.service; true")
	}
	onHost(t, l, "drf1", "systemctl disable --now svc.service")
	if got := state(); strings.Contains(got, "enabled") || strings.Contains(got, "\nactive") {
		t.Fatalf("after disable --now the unit is %q", got)
	}
	op.write(map[string]string{"drf1/app/conf": "2\n"})
	if out, code := op.run("deploy", "--yes", "--settle", "1s"); code != 0 {
		t.Fatalf("deploy after disable --now exited %d:\n%s", code, out)
	}
	if got := state(); got != "enabled\nactive" {
		t.Errorf("after the deploy the unit is %q, want enabled and active", got)
	}

	onHost(t, l, "drf1", "systemctl disable --now svc.service")
	op.write(map[string]string{"drf1/app/systemd/svc.service": "[Service]\nExecStart=/bin/false\n[Install]\nWantedBy=multi-user.target\n", "drf1/app/conf": "3\n"})
	out, code := op.run("deploy", "--yes", "--settle", "2s")
	if code != deploy.ExitRolledBack || !strings.Contains(out, "rolled back") || strings.Contains(out, "rollback failed") {
		t.Errorf("a failing deploy after disable --now exited %d, want rolled back:\n%s", code, out)
	}
	if got := state(); got != "enabled\nactive" {
		t.Errorf("after the rollback the unit is %q, want enabled and active", got)
	}

	// The host runs its recorded version: no deploy has a reason to touch
	// it, so check names repair, and repair puts it back.
	onHost(t, l, "drf1", "systemctl disable --now svc.service")
	if out, code := op.run("check"); code != exitHostFailed || !strings.Contains(out, "deptool repair") {
		t.Errorf("check of the drifted host exited %d:\n%s", code, out)
	}
	out, code = op.run("repair", "--yes", "--settle", "1s")
	if code != 0 || !strings.Contains(out, "svc.service") || !strings.Contains(out, "deployed") {
		t.Errorf("repair exited %d:\n%s", code, out)
	}
	if got := state(); got != "enabled\nactive" {
		t.Errorf("after the repair the unit is %q, want enabled and active", got)
	}
	if out, code := op.run("check"); code != 0 {
		t.Errorf("check after the repair exited %d:\n%s", code, out)
	}
	if out, code := op.run("repair", "--yes"); code != 0 || !strings.Contains(out, "Nothing to repair") {
		t.Errorf("repair of a host without drift exited %d:\n%s", code, out)
	}
}
