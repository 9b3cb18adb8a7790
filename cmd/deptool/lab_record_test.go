package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
)

// quickGiveUp makes op give up on a silent host after about 6 s (SSH
// keepalives 2 s apart, 3 unanswered) instead of about a minute: the
// operator's bound comes from the ssh config, as for any user.
func quickGiveUp(t *testing.T, op *operator, l *lab.Lab) {
	t.Helper()
	base, err := os.ReadFile(l.SSHConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(cfg, append([]byte("Host *\n  ServerAliveInterval 2\n  ServerAliveCountMax 3\n\n"), base...), 0o600); err != nil {
		t.Fatal(err)
	}
	op.env = append(op.env, "DEPTOOL_SSH_CONFIG="+cfg)
}

// A host lost while it applies is recorded 'unknown', never 'failed': the
// host finishes on its own. The next command that reaches it records what
// its journal says in the note of that deploy, and 'log' shows it: sync
// after a cut during the settle window (the host deployed), check after a
// cut that outlasted the host's wait for its confirmation (it rolled
// back).
func TestLostHostIsUnknownUntilTheNextCommandReachesIt(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	quickGiveUp(t, op, l)
	op.write(interruptUnits([]string{"web1"}, "v1"))
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	cutAt := func(phase, detail string, flags ...string) {
		t.Helper()
		d := startDeploy(t, op, flags...)
		d.waitUntil("web1 "+phase+" "+detail, func(evs []map[string]any) bool {
			return slices.ContainsFunc(evs, func(ev map[string]any) bool {
				return ev["event"] == "phase" && ev["phase"] == phase && (detail == "" || ev["detail"] == detail)
			})
		})
		if err := l.Cut("web1"); err != nil {
			t.Fatal(err)
		}
		defer l.Restore("web1")
		if code := d.exit(); code != exitHostFailed {
			t.Errorf("the cut deploy exited %d, want %d:\n%s\n%s", code, exitHostFailed, d.output(), d.stderr.String())
		}
		if got := d.outcomes()["web1"]; got != "unknown" {
			t.Errorf("the cut host ended %q, want unknown:\n%s", got, d.output())
		}
		if lg, _ := op.run("log", "-n", "1"); !strings.Contains(lg, "web1  unknown") {
			t.Errorf("log right after the cut:\n%s", lg)
		}
	}

	// Cut while its units settle: the host deploys by itself.
	op.write(interruptUnits([]string{"web1"}, "v2"))
	cutAt("applying", "settle", "--settle", "5s", "--confirm-timeout", "0s")
	waitFor(t, l, "web1", "flock -n /var/lib/deptool/lock true && tail -1 /var/lib/deptool/journal.jsonl | grep -q '\"outcome\":\"deployed\"'", 30*time.Second)
	if err := l.Restore("web1"); err != nil {
		t.Fatal(err)
	}
	if out, code := op.run("sync"); code != 0 {
		t.Fatalf("sync exited %d:\n%s", code, out)
	}
	lg, _ := op.run("log", "-n", "1")
	if !strings.Contains(lg, "web1  deployed: found on the host by 'deptool sync'") || strings.Contains(lg, "unknown") {
		t.Errorf("log after the sync does not say web1 deployed:\n%s", lg)
	}
	if st, _ := op.run("status"); strings.Contains(st, "undeployed") {
		t.Errorf("status after the sync:\n%s", st)
	}

	// Cut as the confirmation starts (its login takes longer than the
	// cut), and past the host's wait for it: the host rolls back.
	op.write(interruptUnits([]string{"web1"}, "v3"))
	cutAt("confirming", "", "--settle", "1s", "--confirm-timeout", "3s")
	waitFor(t, l, "web1", "flock -n /var/lib/deptool/lock true && tail -1 /var/lib/deptool/journal.jsonl | grep -q '\"outcome\":\"rolled back\"'", 30*time.Second)
	if err := l.Restore("web1"); err != nil {
		t.Fatal(err)
	}
	op.run("check")
	lg, _ = op.run("log", "-n", "2")
	if !strings.Contains(lg, "web1  rolled back") || !strings.Contains(lg, "found on the host by 'deptool check'") || strings.Contains(lg, "unknown") {
		t.Errorf("log after the check does not say web1 rolled back:\n%s", lg)
	}
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 || !strings.Contains(out, "web1  deployed") {
		t.Errorf("deploying v3 again exited %d:\n%s", code, out)
	}
}
