package lab_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
)

func TestMain(m *testing.M) { lab.Main(m) }

// The acceptance check: each host is its own systemd machine,
// reachable with the ssh_config the lab wrote.
func TestHostsBootAsSystemdMachines(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, "web1", "web2", "db1")
	if got := l.Names(); strings.Join(got, " ") != "web1 web2 db1" {
		t.Fatalf("Names() = %v", got)
	}
	for _, name := range l.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := run(t, l, name, "cat", "/etc/hostname"); got != name {
				t.Errorf("/etc/hostname = %q, want %q", got, name)
			}
			if got := run(t, l, name, "hostname"); got != name {
				t.Errorf("hostname = %q, want %q", got, name)
			}
			if got := run(t, l, name, "readlink", "/proc/1/exe"); !strings.HasSuffix(got, "/systemd") {
				t.Errorf("PID 1 is %q, want systemd", got)
			}
			if got := run(t, l, name, "systemctl", "is-system-running"); got != "running" {
				t.Errorf("is-system-running = %q", got)
			}
			if got := run(t, l, name, "sh", "-c", "ip -4 -o addr show dev eth0 | awk '{print $4}'"); got != l.Addr(name)+"/30" {
				t.Errorf("eth0 = %q, want %s/30", got, l.Addr(name))
			}
		})
	}
}

// OpenSSH itself, with strict host key checking, must accept the files.
func TestSSHConfigWorksWithOpenSSH(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, "web1", "web2", "db1")
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client installed")
	}
	for _, name := range l.Names() {
		out, err := exec.Command("ssh", "-F", l.SSHConfig(), "-o", "BatchMode=yes", name, "cat /etc/hostname").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != name {
			t.Errorf("ssh -F %s %s: %v: %s", l.SSHConfig(), name, err, out)
		}
	}
}

func TestExecPassesExitStatusAndStderr(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, "web1", "web2", "db1")
	_, err := l.Exec("web1", "sh", "-c", "echo oops >&2; exit 3")
	ee, ok := err.(*lab.ExitError)
	if !ok || ee.Code != 3 || !strings.Contains(ee.Stderr, "oops") {
		t.Fatalf("err = %#v, want *ExitError with code 3 and stderr", err)
	}
	// Arguments keep their boundaries and quotes.
	if got := run(t, l, "web1", "printf", "%s|", "a b", "it's", ""); got != "a b|it's||" {
		t.Errorf("printf = %q", got)
	}
	if _, err := l.Exec("nosuchhost", "true"); err == nil || !strings.Contains(err.Error(), "no host nosuchhost") {
		t.Errorf("unknown host: err = %v", err)
	}
}

// Each host has its own cgroups: stopping a unit in one host must not
// touch the same unit in another (with a shared cgroup, it kills them all).
func TestUnitsAreIsolatedBetweenHosts(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, "web1", "web2", "db1")
	run(t, l, "db1", "systemctl", "stop", "nginx")
	defer run(t, l, "db1", "systemctl", "start", "nginx")
	if got := run(t, l, "db1", "sh", "-c", "systemctl is-active nginx || true"); got != "inactive" {
		t.Fatalf("db1: nginx is %q after stop", got)
	}
	for _, other := range []string{"web1", "web2"} {
		if got := run(t, l, other, "systemctl", "is-active", "nginx"); got != "active" {
			t.Errorf("%s: nginx is %q after stopping it on db1", other, got)
		}
		if got := run(t, l, other, "sh", "-c", "curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1/"); got != "200" {
			t.Errorf("%s: nginx answers %q", other, got)
		}
	}
}

func run(t *testing.T, l *lab.Lab, host string, argv ...string) string {
	t.Helper()
	out, err := l.Exec(host, argv...)
	if err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	return strings.TrimSpace(out)
}
