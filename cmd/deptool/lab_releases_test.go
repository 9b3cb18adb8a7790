package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/lab"
)

// A real fleet mixes releases. One deploy goes to a Debian 11, 12 and 13
// host (systemd 247, 252, 257); the new version's unit fails only on 12,
// so only that host rolls back, and the others keep the new version.
func TestMixedReleasesRollBackOnlyTheFailingOne(t *testing.T) {
	l := lab.StartFresh(t, "m11@bullseye", "m12@bookworm", "m13@trixie")
	want := map[string]struct{ systemd, debian string }{
		"m11": {"systemd 247", "11."},
		"m12": {"systemd 252", "12."},
		"m13": {"systemd 257", "13."},
	}
	for h, w := range want {
		if got := onHost(t, l, h, "systemctl --version | head -1; cat /etc/debian_version"); !strings.HasPrefix(got, w.systemd+" ") || !strings.Contains(got, "\n"+w.debian) {
			t.Fatalf("%s: %q, want %s on Debian %sx", h, got, w.systemd, w.debian)
		}
	}
	op := newOperator(t, l)
	// v2's ExecStartPre refuses to run on Debian 12: the same unit file
	// fails on one release only.
	// It runs as a user the app declares for systemd-sysusers (whose
	// behaviour changed between 247 and 257).
	unit := func(v, pre string) string {
		return "[Service]\nUser=dtmix\nEnvironment=V=" + v + "\n" + pre + "ExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n"
	}
	const onlyNot12 = "ExecStartPre=/bin/sh -c 'case $(cat /etc/debian_version) in 12.*) echo refusing on Debian 12 >&2; exit 1;; esac'\n"
	files := func(v, pre string) map[string]string {
		m := map[string]string{}
		for h := range want {
			m[h+"/svc/manifest.json"] = `{"systemd": {"units_enabled": ["dtmix.service"]}}`
			m[h+"/svc/systemd/dtmix.service"] = unit(v, pre)
			m[h+"/svc/sysusers/dtmix.conf"] = "u dtmix - \"deptool mixed fleet\" /var/lib/dtmix\n"
			m[h+"/svc/dtmix.conf"] = "version " + v + "\n"
		}
		return m
	}
	version := func(h string) string {
		return onHost(t, l, h, "systemctl is-active dtmix.service; systemctl show -P Environment dtmix.service; systemctl is-enabled dtmix.service")
	}
	op.write(files("1", ""))
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("first deploy exited %d:\n%s", code, out)
	}
	for h := range want {
		if got := version(h); got != "active\nV=1\nenabled" {
			t.Errorf("%s after v1: %q", h, got)
		}
		if got := onHost(t, l, h, "ps -o user= -p $(systemctl show -P MainPID dtmix.service); getent passwd dtmix | cut -d: -f6"); got != "dtmix\n/var/lib/dtmix" {
			t.Errorf("%s: dtmix.service runs as / dtmix's home is %q, want the sysusers user", h, got)
		}
	}

	op.write(files("2", onlyNot12))
	out, code := op.run("deploy", "--yes")
	if code != deploy.ExitRolledBack || !strings.Contains(out, "m12  rolled back") || !strings.Contains(out, "m11  deployed") || !strings.Contains(out, "m13  deployed") {
		t.Fatalf("deploy of v2 exited %d, want %d with only m12 rolled back:\n%s", code, deploy.ExitRolledBack, out)
	}
	for h, wantV := range map[string]string{"m11": "2", "m12": "1", "m13": "2"} {
		if got := version(h); got != "active\nV="+wantV+"\nenabled" {
			t.Errorf("%s after v2: %q, want active V=%s enabled", h, got, wantV)
		}
		// Enabled through a link that survives GC: the .wants link must
		// not point into a versioned checkout on any release.
		if got := onHost(t, l, h, "readlink /etc/systemd/system/multi-user.target.wants/dtmix.service"); strings.Contains(got, "/apps/svc/v") {
			t.Errorf("%s: .wants link points into a checkout: %s", h, got)
		}
	}
	if got := onHost(t, l, "m12", "tail -1 /var/lib/deptool/journal.jsonl"); !strings.Contains(got, `"outcome":"rolled back"`) {
		t.Errorf("m12's journal does not record the rollback: %s", got)
	}
	if got := onHost(t, l, "m12", "journalctl -u dtmix.service --no-pager | grep -c 'refusing on Debian 12' || true"); got == "0" {
		t.Errorf("m12's journal does not show why the unit failed")
	}

	// A config-only deploy: the unit file is unchanged, yet it lives in
	// another checkout now. No release may then say the unit changed on
	// disk (252 and 257 did before the fix of issue 16; 247 did not).
	op.write(map[string]string{"m12/svc/systemd/dtmix.service": unit("1", "")})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("deploy of v1's unit to m12 exited %d:\n%s", code, out)
	}
	for h := range want {
		op.write(map[string]string{h + "/svc/dtmix.conf": "version 3\n"})
	}
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("config-only deploy exited %d:\n%s", code, out)
	}
	for h, w := range want {
		if got := onHost(t, l, h, "systemctl show -P NeedDaemonReload dtmix.service; systemctl show -P NeedDaemonReload dbus.service"); got != "no\nno" {
			t.Errorf("%s (%s) after a config-only deploy: NeedDaemonReload of dtmix and dbus: %q, want no, no", h, w.systemd, got)
		}
	}
}

// A deptool built with cgo on this machine needs its glibc (2.34 or
// later): on Debian 11 the uploaded agent cannot start. The operator must
// hear that the host was reached and what to do, not that it is
// unreachable.
func TestDynamicDeptoolOnBullseyeSaysBuildStatic(t *testing.T) {
	l := lab.StartFresh(t, "old1@bullseye")
	bin := filepath.Join(t.TempDir(), "deptool-cgo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build with cgo: %v\n%s", err, out)
	}
	if out, err := exec.Command("objdump", "-T", bin).Output(); err != nil || !strings.Contains(string(out), "GLIBC_2.34") {
		t.Skipf("this machine's cgo build does not need glibc 2.34 (objdump: %v), so Debian 11 can run it", err)
	}
	op := newOperator(t, l)
	op.bin = bin
	op.write(map[string]string{"old1/site/index.html": "hello\n"})
	out, code := op.run("deploy", "--yes")
	if code == 0 || !strings.Contains(out, "GLIBC_2.34") || !strings.Contains(out, "build it static (CGO_ENABLED=0") || strings.Contains(out, "unreachable") {
		t.Fatalf("deploy of a cgo deptool to Debian 11 exited %d; want a failure naming glibc and the static build, not 'unreachable':\n%s", code, out)
	}
}
