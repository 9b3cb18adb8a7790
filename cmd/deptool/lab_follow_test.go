package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/lab"
)

// needReload lists the host's deptool-managed units (links into the apps
// directory) that systemd says changed on disk.
func needReload(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	return onHost(t, l, host, `
for p in /etc/systemd/system/*; do
  case "$(readlink "$p")" in /var/lib/deptool/apps/*) ;; *) continue ;; esac
  u=$(basename "$p")
  [ "$(systemctl show -P NeedDaemonReload "$u")" = no ] || echo "$u"
done`)
}

// After a deploy that changes only an app's config, one that changes its
// unit, and a rollback, systemd sees no managed unit as changed on disk.
func TestNoUnitChangedOnDiskAfterDeploys(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	unit := "[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n"
	op.write(map[string]string{
		"web1/svc/manifest.json":                   `{"systemd": {"units_enabled": ["dtnr.service"]}}`,
		"web1/svc/systemd/dtnr.service":            unit,
		"web1/svc/systemd/dtnr.service.d/env.conf": "[Service]\nEnvironment=A=1\n",
		"web1/svc/systemd/dtnr-helper.service":     "[Service]\nType=oneshot\nExecStart=/bin/true\n",
		"web1/svc/svc.conf":                        "v1\n",
	})
	steps := []struct {
		what  string
		files map[string]string
		args  []string
		code  int
	}{
		// --settle 0s where the unit stays up: no window to watch.
		{"first deploy", nil, []string{"deploy", "--yes", "--settle", "0s"}, 0},
		{"config-only deploy", map[string]string{"web1/svc/svc.conf": "v2\n"}, []string{"deploy", "--yes", "--settle", "0s"}, 0},
		{"unit update", map[string]string{"web1/svc/systemd/dtnr.service.d/env.conf": "[Service]\nEnvironment=A=2\n", "web1/svc/svc.conf": "v3\n"}, []string{"deploy", "--yes", "--settle", "0s"}, 0},
		// The unit fails to start: an automatic rollback.
		{"automatic rollback", map[string]string{"web1/svc/systemd/dtnr.service": strings.Replace(unit, "/bin/sleep infinity", "/bin/false", 1)}, []string{"deploy", "--yes"}, deploy.ExitRolledBack},
		{"rollback --to", nil, []string{"rollback", "--to", "main~3", "--yes", "--settle", "0s"}, 0},
	}
	for _, s := range steps {
		op.write(s.files)
		if out, code := op.run(s.args...); code != s.code {
			t.Fatalf("%s exited %d, want %d:\n%s", s.what, code, s.code, out)
		}
		if got := needReload(t, l, "web1"); got != "" {
			t.Errorf("after the %s, systemd says these changed on disk: %s", s.what, got)
		}
		if got := onHost(t, l, "web1", "systemctl status dtnr.service 2>&1 | grep -c 'changed on disk' || true"); got != "0" {
			t.Errorf("after the %s, systemctl status warns of a change on disk", s.what)
		}
	}
}

// An app links a drop-in into sshd's configuration that locks root out
// and names ssh.service to reload. Nobody can confirm, so the host undoes
// the deploy by itself, and reloads sshd on the old configuration: the
// operator gets back in.
func TestSSHLockoutUndoneWithSSHReloaded(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	app := func(conf string) map[string]string {
		return map[string]string{
			"web1/sshd/manifest.json": `{"systemd": {"reload": ["ssh.service"]}, "symlinks": {"/etc/ssh/sshd_config.d/deny.conf": "deny.conf"}}`,
			"web1/sshd/deny.conf":     conf,
		}
	}
	op.write(app("# nobody denied yet\n"))
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	op.write(app("DenyUsers root\n"))
	out, code := op.run("deploy", "--yes", "--confirm-timeout", "3s")
	if code != deploy.ExitRolledBack || !strings.Contains(out, "web1  rolled back: not confirmed") {
		t.Fatalf("deploy locking root out exited %d, want %d and 'rolled back: not confirmed':\n%s", code, deploy.ExitRolledBack, out)
	}
	ssh := exec.Command("ssh", "-F", l.SSHConfig(), "-o", "BatchMode=yes", "web1", "true")
	if msg, err := ssh.CombinedOutput(); err != nil {
		t.Fatalf("ssh web1 true after the rollback: %v: %s", err, msg)
	}
	if got := onHost(t, l, "web1", "cat /etc/ssh/sshd_config.d/deny.conf; sshd -T | grep -ci '^denyusers' || true"); got != "# nobody denied yet\n0" {
		t.Errorf("web1's sshd configuration after the rollback:\n%s", got)
	}
}

// A unit with ExecReload named in systemd.reload keeps its main process
// across a config-only deploy, and that process sees the new config.
func TestReloadKeepsMainPIDAndSeesNewConfig(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	// The service reads its config at start and again on SIGHUP.
	serve := "#!/bin/sh\nread() { cat /etc/dtrl.conf > /run/dtrl.seen; }\nread\ntrap read HUP\nwhile :; do sleep 0.2 & wait $!; done\n"
	op.write(map[string]string{
		"web1/rl/manifest.json":        `{"systemd": {"units_enabled": ["dtrl.service"], "reload": ["dtrl.service"]}, "symlinks": {"/etc/dtrl.conf": "dtrl.conf"}}`,
		"web1/rl/systemd/dtrl.service": "[Service]\nExecStart=/var/lib/deptool/apps/rl/current/serve\nExecReload=/bin/kill -HUP $MAINPID\n\n[Install]\nWantedBy=multi-user.target\n",
		"web1/rl/serve":                serve,
		"web1/rl/dtrl.conf":            "v1\n",
	})
	if err := os.Chmod(filepath.Join(op.root, "prod/web1/rl/serve"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("first deploy exited %d:\n%s", code, out)
	}
	pid := onHost(t, l, "web1", "systemctl show -P MainPID dtrl.service")
	if pid == "0" || onHost(t, l, "web1", "cat /run/dtrl.seen") != "v1" {
		t.Fatalf("dtrl.service did not start on v1 (main PID %s)", pid)
	}
	op.write(map[string]string{"web1/rl/dtrl.conf": "v2\n"})
	out, code := op.run("deploy", "--yes")
	if code != 0 || !strings.Contains(out, "reload unit dtrl.service") {
		t.Fatalf("config-only deploy exited %d, want 0 and a reload in the plan:\n%s", code, out)
	}
	if got := onHost(t, l, "web1", "systemctl show -P MainPID dtrl.service"); got != pid {
		t.Errorf("main PID %s after the deploy, was %s: the unit restarted", got, pid)
	}
	// The reload only signals; the service rereads when it gets there.
	deadline := time.Now().Add(10 * time.Second)
	for onHost(t, l, "web1", "cat /run/dtrl.seen") != "v2" {
		if time.Now().After(deadline) {
			t.Fatal("the service never saw v2 of its config")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A validation command that fails refuses the deploy before anything
// changes: the running unit keeps its main PID, current stays, and the
// command's output is in the summary, the JSON and the log.
func TestFailingValidationChangesNothing(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	op.write(map[string]string{
		"web1/v/manifest.json":       `{"systemd": {"units_enabled": ["dtv.service"]}, "validate": [["/bin/sh", "-c", "grep -x ok dtv.conf || { echo \"dtv.conf: want ok\" >&2; exit 1; }"], ["/bin/grep", "-qx", "ok", "${DEPTOOL_CHECKOUT}/dtv.conf"]]}`,
		"web1/v/systemd/dtv.service": goodUnit,
		"web1/v/dtv.conf":            "ok\n",
	})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("first deploy exited %d:\n%s", code, out)
	}
	state := "systemctl show -P MainPID dtv.service; readlink /var/lib/deptool/apps/v/current; ls /var/lib/deptool/apps/v | wc -l"
	before := onHost(t, l, "web1", state)
	op.write(map[string]string{"web1/v/dtv.conf": "broken\n"})
	out, code := op.run("deploy", "--yes")
	if code != deploy.ExitRolledBack || !strings.Contains(out, "dtv.conf: want ok") || !strings.Contains(out, "exit status 1") {
		t.Fatalf("deploy failing validation exited %d, want %d and the command's output:\n%s", code, deploy.ExitRolledBack, out)
	}
	if got := onHost(t, l, "web1", state); got != before {
		t.Errorf("web1 after the refused deploy:\n%s\nbefore:\n%s", got, before)
	}
	js, code := op.stdout("deploy", "--yes", "--output", "json")
	if code != deploy.ExitRolledBack || !strings.Contains(js, `"validation":[{"app":"v","command":["/bin/sh"`) || !strings.Contains(js, `dtv.conf: want ok`) {
		t.Errorf("JSON of the refused deploy (exit %d) lacks the validation report:\n%s", code, js)
	}
	if log, _ := op.run("log"); !strings.Contains(log, "dtv.conf: want ok") {
		t.Errorf("log lacks the validation output:\n%s", log)
	}
	if got := onHost(t, l, "web1", state); got != before {
		t.Errorf("web1 after the second refused deploy:\n%s\nbefore:\n%s", got, before)
	}
}

// check finds a file edited by hand in a checkout and an enabled unit
// disabled by hand, changes nothing, and says so in its exit status.
func TestCheckFindsHandEditsAndDisabledUnits(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	op.write(map[string]string{
		"web1/svc/manifest.json":         `{"systemd": {"units_enabled": ["dtck.service", "dtck2.service"]}, "symlinks": {"/etc/dtck.conf": "dtck.conf"}, "checks": [{"tcp": "127.0.0.1:22"}]}`,
		"web1/svc/systemd/dtck.service":  goodUnit,
		"web1/svc/systemd/dtck2.service": goodUnit,
		"web1/svc/dtck.conf":             "v1\n",
	})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("deploy exited %d:\n%s", code, out)
	}
	if out, code := op.run("check"); code != 0 || !strings.Contains(out, "web1  ok at ") || !strings.Contains(out, "check tcp 127.0.0.1:22: ok") {
		t.Fatalf("check of a host as deployed exited %d:\n%s", code, out)
	}
	// systemctl disable also takes the unit's link away (deptool's links
	// point outside systemd's search path); removing the install link
	// leaves the unit known but disabled.
	onHost(t, l, "web1", `echo edited > /var/lib/deptool/apps/svc/current/dtck.conf; systemctl disable --now dtck.service 2>/dev/null
rm /etc/systemd/system/multi-user.target.wants/dtck2.service; systemctl daemon-reload`)
	before := onHost(t, l, "web1", "ls -l --time-style=full-iso /var/lib/deptool /var/lib/deptool/apps/svc; systemctl is-enabled dtck.service dtck2.service || true")
	out, code := op.run("check")
	for _, want := range []string{
		"web1  4 problems at ",
		"svc: file dtck.conf: changed on the host",
		"svc: link /etc/systemd/system/dtck.service: removed on the host",
		"svc: unit dtck.service: not found by systemd",
		"svc: unit dtck2.service: not enabled on the host (linked), the app enables it",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
	if code != deploy.ExitHostFailed {
		t.Errorf("check of a drifted host exited %d, want %d", code, deploy.ExitHostFailed)
	}
	if t.Failed() {
		t.Logf("check output:\n%s", out)
	}
	js, code := op.stdout("check", "--limit", "web1", "--output", "json")
	if code != deploy.ExitHostFailed || !strings.Contains(js, `{"app":"svc","kind":"file","path":"dtck.conf","what":"changed on the host"}`) {
		t.Errorf("check --output json exited %d:\n%s", code, js)
	}
	if after := onHost(t, l, "web1", "ls -l --time-style=full-iso /var/lib/deptool /var/lib/deptool/apps/svc; systemctl is-enabled dtck.service dtck2.service || true"); after != before {
		t.Errorf("check changed the host:\n%s\nbefore:\n%s", after, before)
	}
}

// sshBanner is what sshd on host says before login, as OpenSSH shows it.
func sshBanner(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	out, err := exec.Command("ssh", "-F", l.SSHConfig(), "-o", "BatchMode=yes", host, "true").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh %s true: %v: %s", host, err, out)
	}
	return strings.TrimSpace(string(out))
}

// A unit outside the apps, named in systemd.reload, follows the app's
// files on an automatic rollback and on 'rollback --to' too. Which banner
// sshd shows says which configuration it runs on: sshd reads its
// configuration only at start and on reload.
func TestOutsideUnitFollowsEveryRollback(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	onHost(t, l, "web1", "echo banner v1 > /etc/dtbanner1; echo banner v2 > /etc/dtbanner2; echo banner v3 > /etc/dtbanner3")
	t.Cleanup(func() { l.Exec("web1", "sh", "-c", "rm -f /etc/dtbanner?") })
	app := func(v, port string) map[string]string {
		return map[string]string{
			"web1/sshd/manifest.json": `{"systemd": {"reload": ["ssh.service"]}, "checks": [{"tcp": "127.0.0.1:` + port + `", "timeout": "1s"}],
				"symlinks": {"/etc/ssh/sshd_config.d/dtbanner.conf": "banner.conf"}}`,
			"web1/sshd/banner.conf": "Banner /etc/dtbanner" + v + "\n",
		}
	}
	op.write(app("1", "22"))
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	if got := sshBanner(t, l, "web1"); got != "banner v1" {
		t.Fatalf("banner after v1: %q", got)
	}
	// v2's health check fails: the automatic rollback reloads sshd on v1.
	op.write(app("2", "1"))
	if out, code := op.run("deploy", "--yes"); code != deploy.ExitRolledBack {
		t.Fatalf("v2 with a failing check exited %d, want %d:\n%s", code, deploy.ExitRolledBack, out)
	}
	if got := sshBanner(t, l, "web1"); got != "banner v1" {
		t.Errorf("banner after the automatic rollback: %q, want v1's", got)
	}
	op.write(app("3", "22"))
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("v3 exited %d:\n%s", code, out)
	}
	if got := sshBanner(t, l, "web1"); got != "banner v3" {
		t.Fatalf("banner after v3: %q", got)
	}
	// main~2 is v1 (main~1 the rolled-back v2).
	if out, code := op.run("rollback", "--to", "main~2", "--yes"); code != 0 {
		t.Fatalf("rollback --to v1 exited %d:\n%s", code, out)
	}
	if got := sshBanner(t, l, "web1"); got != "banner v1" {
		t.Errorf("banner after rollback --to v1: %q", got)
	}
}
