package main

import (
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/lab"
)

func TestBrokenSSHRevertsByItself(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	// The app reloads sshd whenever its config changes, as a real one
	// would; v1 is harmless.
	sshApp := func(conf string) map[string]string {
		return map[string]string{
			"web1/sshd/manifest.json": `{"systemd": {"units_enabled": ["dt-sshd-reload.service"]},
			                            "symlinks": {"/etc/ssh/sshd_config.d/50-deptool-test.conf": "deptool-test.conf"}}`,
			"web1/sshd/systemd/dt-sshd-reload.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/systemctl reload ssh.service\n\n[Install]\nWantedBy=multi-user.target\n",
			"web1/sshd/deptool-test.conf":              conf,
		}
	}
	op.write(sshApp("# nothing yet\n"))
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	// v2 locks root out: the deploy's own connection lives on, but no new
	// one gets in, so nobody can confirm and the host must undo it alone.
	op.write(sshApp("DenyUsers root\n"))
	out, code := op.run("deploy", "--yes", "--settle", "1s", "--confirm-timeout", "3s")
	if code != deploy.ExitRolledBack || !strings.Contains(out, "web1  rolled back: not confirmed") {
		t.Fatalf("deploy locking root out exited %d, want %d and 'rolled back: not confirmed':\n%s", code, deploy.ExitRolledBack, out)
	}
	// Reachable again, on the old config, and it says why.
	if got := onHost(t, l, "web1", "cat /etc/ssh/sshd_config.d/50-deptool-test.conf; tail -1 /var/lib/deptool/journal.jsonl"); !strings.HasPrefix(got, "# nothing yet\n") || !strings.Contains(got, "rolled back") || !strings.Contains(got, "not confirmed") {
		t.Errorf("web1 after the unconfirmed deploy:\n%s", got)
	}
	if out, code := op.run("ping", "-c", "1"); code != 0 {
		t.Errorf("ping after the revert exited %d:\n%s", code, out)
	}
	if out, _ := op.run("diff", "--stat"); !strings.Contains(out, "web1") {
		t.Errorf("the reverted change is not pending:\n%s", out)
	}
}
