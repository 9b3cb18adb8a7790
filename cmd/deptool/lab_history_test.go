package main

import (
	"github.com/deptool/deptool/deploy"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
)

func TestLogRollbackAndPins(t *testing.T) {
	l := lab.StartFresh(t, "web1", "web2")
	op := newOperator(t, l)
	unit := "[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n"
	for _, h := range []string{"web1", "web2"} {
		op.write(map[string]string{
			h + "/svc/manifest.json":       `{"systemd": {"units_enabled": ["dth.service"]}}`,
			h + "/svc/systemd/dth.service": unit,
			h + "/svc/conf":                "v1\n",
		})
	}
	if out, code := op.run("deploy", "--yes", "--settle", "300ms", "-m", "first"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	first := strings.TrimSpace(gitOut(t, op, "rev-parse", "main"))
	v1State := fingerprintHistory(t, l, "web1")

	// v2: web2's unit cannot start, so web2 rolls back and web1 moves on.
	op.write(map[string]string{"web1/svc/conf": "v2\n", "web2/svc/conf": "v2\n",
		"web2/svc/systemd/dth.service": strings.Replace(unit, "/bin/sleep infinity", "/nonexistent", 1)})
	if _, code := op.run("deploy", "--yes", "--settle", "300ms", "-m", "second"); code != deploy.ExitRolledBack {
		t.Fatalf("v2 exited %d, want %d", code, deploy.ExitRolledBack)
	}
	out, _ := op.run("log")
	if !strings.Contains(out, "second") || !strings.Contains(out, "web2  rolled back: dth.service") || !strings.Contains(out, "web1  deployed") {
		t.Errorf("log does not show web2's automatic rollback:\n%s", out)
	}

	remote, code := op.run("log", "--remote", "web2", "-n", "1")
	if code != 0 || !strings.Contains(remote, "rolled back") || strings.Count(strings.TrimSpace(remote), "\n") != 0 {
		t.Errorf("log --remote web2 -n 1 exited %d:\n%s", code, remote)
	}

	t.Run("rollback --to the first version", func(t *testing.T) {
		before := strings.TrimSpace(gitOut(t, op, "rev-list", "--count", "main"))
		out, code := op.run("rollback", "--to", first[:7], "--yes", "--settle", "300ms")
		if code != 0 {
			t.Fatalf("rollback exited %d:\n%s", code, out)
		}
		if got := fingerprintHistory(t, l, "web1"); got != v1State {
			t.Errorf("web1 after rollback --to first:\n%s\nafter the first deploy:\n%s", got, v1State)
		}
		after := strings.TrimSpace(gitOut(t, op, "rev-list", "--count", "main"))
		if after == before {
			t.Error("rollback did not add a commit")
		}
		if msg := gitOut(t, op, "log", "-1", "--format=%s", "main"); !strings.HasPrefix(msg, "rollback to "+first[:12]) {
			t.Errorf("rollback commit message = %q", msg)
		}
		if _, err := exec.Command("git", "--git-dir", filepath.Join(op.root, ".deptool"), "merge-base", "--is-ancestor", first, "main").CombinedOutput(); err != nil {
			t.Error("the first commit is no longer reachable from main")
		}
	})

	t.Run("bad input", func(t *testing.T) {
		if out, code := op.run("rollback", "--to", "nosuch", "--yes"); code != 1 || !strings.Contains(out, "not a commit") {
			t.Errorf("rollback --to nosuch exited %d:\n%s", code, out)
		}
		if out, code := op.run("rollback", "--yes"); code != 1 || !strings.Contains(out, "--to") {
			t.Errorf("rollback without a terminal and without --to exited %d:\n%s", code, out)
		}
		if out, code := op.run("pin", "db9"); code != 1 || !strings.Contains(out, "db9") {
			t.Errorf("pin of an unknown host exited %d:\n%s", code, out)
		}
	})

	t.Run("pinned host is left alone until unpinned", func(t *testing.T) {
		if out, code := op.run("pin", "web2"); code != 0 {
			t.Fatalf("pin exited %d:\n%s", code, out)
		}
		op.write(map[string]string{"web1/svc/conf": "v3\n", "web2/svc/conf": "v3\n",
			"web2/svc/systemd/dth.service": unit})
		out, code := op.run("deploy", "--yes", "--settle", "300ms")
		if code != 0 || !strings.Contains(out, "web2: pinned at") {
			t.Fatalf("deploy with web2 pinned exited %d:\n%s", code, out)
		}
		if got := onHost(t, l, "web2", "cat /var/lib/deptool/apps/svc/current/conf"); got != "v1" {
			t.Errorf("pinned web2 changed: conf = %q", got)
		}
		if out, code := op.run("unpin", "web2"); code != 0 {
			t.Fatalf("unpin exited %d:\n%s", code, out)
		}
		if out, code := op.run("deploy", "--yes", "--settle", "300ms"); code != 0 {
			t.Fatalf("deploy after unpin exited %d:\n%s", code, out)
		}
		if got := onHost(t, l, "web2", "cat /var/lib/deptool/apps/svc/current/conf"); got != "v3" {
			t.Errorf("web2 after unpin: conf = %q", got)
		}
	})
}

func gitOut(t *testing.T, op *operator, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"--git-dir", filepath.Join(op.root, ".deptool")}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}

func fingerprintHistory(t *testing.T, l *lab.Lab, host string) string {
	return onHost(t, l, host, `cat /var/lib/deptool/apps/svc/current/conf /var/lib/deptool/apps/svc/current/systemd/dth.service; readlink /etc/systemd/system/dth.service; systemctl is-active dth.service; systemctl is-enabled dth.service`)
}

func TestRetentionKeepsNCheckoutsAndTwoAgents(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	gitOut(t, op, "config", "deptool.keep", "1")
	for i := range 5 {
		op.write(map[string]string{"web1/app/conf": strings.Repeat("x", i+1)})
		if out, code := op.run("deploy", "--yes"); code != 0 {
			t.Fatalf("deploy %d exited %d:\n%s", i, code, out)
		}
		if i == 0 {
			// Two stale agent builds from earlier versions of deptool.
			onHost(t, l, "web1", "cd /var/lib/deptool/bin && head -c 100000 /dev/zero > deptool-0.0.1-aaaaaaaaaaaa && head -c 100000 /dev/zero > deptool-0.0.2-bbbbbbbbbbbb && touch -d '2 days ago' deptool-0.0.1-* && touch -d '1 day ago' deptool-0.0.2-*")
		}
	}
	// The newest checkout (current) and, whatever N says, previous.
	if got := onHost(t, l, "web1", "ls /var/lib/deptool/apps/app | grep -vc -e current -e previous"); got != "2" {
		t.Errorf("checkout directories kept with deptool.keep=1: %s, want 2 (current and previous)", got)
	}
	if got := onHost(t, l, "web1", "ls /var/lib/deptool/bin | grep -c deptool-"); got != "2" {
		t.Errorf("agent binaries kept: %s, want 2", got)
	}
	if got := onHost(t, l, "web1", "ls /var/lib/deptool/bin"); strings.Contains(got, "aaaaaaaaaaaa") {
		t.Errorf("the oldest agent binary was kept: %s", got)
	}
}
