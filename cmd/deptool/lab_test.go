package main

// End-to-end tests: the real deptool binary against real lab hosts (systemd
// as PID 1, sshd, each in its own network namespace). Without a lab they
// skip, unless DEPTOOL_REQUIRE_LAB=1 makes that a failure.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/deptool/deptool/internal/lab"

	"github.com/deptool/deptool/internal/storetest"
)

func TestMain(m *testing.M) { lab.Main(m) }

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

// deptoolBinary builds this command once per test binary: the agent that
// deploy uploads is the running executable, so it must be deptool itself.
func deptoolBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deptool-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		builtPath = filepath.Join(dir, "deptool")
		// Static (no cgo): it runs on hosts of older releases too, whose
		// glibc lacks the symbol versions this machine's would require.
		build := exec.Command("go", "build", "-o", builtPath, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build deptool: %v", buildErr)
	}
	return builtPath
}

// operator is one checkout: a store and a cluster dir, driving the binary.
type operator struct {
	t      *testing.T
	bin    string
	root   string
	env    []string
	labEnv *lab.Lab
}

func newOperator(t *testing.T, l *lab.Lab) *operator {
	t.Helper()
	root := t.TempDir()
	op := &operator{t: t, bin: deptoolBinary(t), root: root, labEnv: l,
		env: append(os.Environ(), "DEPTOOL_SSH_CONFIG="+l.SSHConfig(), "NO_COLOR=1")}
	if out, code := op.run("init", "prod"); code != 0 {
		t.Fatalf("init: %s", out)
	}
	return op
}

// fsckStore has git fsck --strict check the operator's store when the
// test ends.
func (op *operator) fsckStore() {
	store := filepath.Join(op.root, ".deptool")
	for _, e := range op.env {
		if v, ok := strings.CutPrefix(e, "DEPTOOL_STORE="); ok {
			store = v
		}
	}
	storetest.Fsck(op.t, store)
}

// run runs deptool in the operator's directory and returns its combined
// output and exit status.
func (op *operator) run(args ...string) (string, int) {
	op.t.Helper()
	cmd := exec.Command(op.bin, args...)
	cmd.Dir, cmd.Env = op.root, op.env
	op.fsckStore()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), exit.ExitCode()
	}
	if err != nil {
		op.t.Fatalf("deptool %v: %v", args, err)
	}
	return out.String(), 0
}

// stdout runs deptool like run, but returns standard output alone: where
// a test parses what deptool prints for machines.
func (op *operator) stdout(args ...string) (string, int) {
	op.t.Helper()
	cmd := exec.Command(op.bin, args...)
	cmd.Dir, cmd.Env = op.root, op.env
	op.fsckStore()
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), exit.ExitCode()
	}
	if err != nil {
		op.t.Fatalf("deptool %v: %v\n%s", args, err, errs.String())
	}
	return out.String(), 0
}

func (op *operator) write(files map[string]string) {
	op.t.Helper()
	writeFiles(op.t, filepath.Join(op.root, "prod"), files)
}

// onHost runs a shell command on a lab host and returns its stdout.
func onHost(t *testing.T, l *lab.Lab, host, script string) string {
	t.Helper()
	out, err := l.Exec(host, "sh", "-c", script)
	if err != nil {
		t.Fatalf("%s: %s: %v", host, script, err)
	}
	return strings.TrimSpace(out)
}

func journalLines(t *testing.T, l *lab.Lab, host string) string {
	return onHost(t, l, host, "cat /var/lib/deptool/journal.jsonl 2>/dev/null | wc -l")
}

var fleet = map[string]string{
	"web1/site/index.html":    "web1 v1\n",
	"web1/site/manifest.json": `{"symlinks": {"/etc/deptool-test/site.html": "index.html"}}`,
	"web2/site/index.html":    "web2 v1\n",
	"db1/db/db.conf":          "db1-only-secret\n",
	"db1/db/bin/run":          "#!/bin/sh\n",
}

func TestDeployToThreeHosts(t *testing.T) {
	l := lab.StartFresh(t, "web1", "web2", "db1")
	op := newOperator(t, l)
	op.write(fleet)
	if err := os.Chmod(filepath.Join(op.root, "prod/db1/db/bin/run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("deploy exited %d:\n%s", code, out)
	}

	if got := onHost(t, l, "web1", "cat /var/lib/deptool/apps/site/current/index.html"); got != "web1 v1" {
		t.Errorf("web1 site = %q", got)
	}
	if got := onHost(t, l, "web1", "cat /etc/deptool-test/site.html; readlink /etc/deptool-test/site.html"); got != "web1 v1\n/var/lib/deptool/apps/site/current/index.html" {
		t.Errorf("web1 manifest symlink: %q", got)
	}
	if got := onHost(t, l, "db1", "stat -c %a /var/lib/deptool/apps/db/current/bin/run"); got != "755" {
		t.Errorf("db1 bin/run mode = %s, want 755", got)
	}
	for _, host := range []string{"web1", "web2"} {
		objects := onHost(t, l, host, "git --git-dir /var/lib/deptool/store cat-file --batch-all-objects --batch")
		if strings.Contains(objects, "db1-only-secret") || strings.Contains(objects, "db.conf") {
			t.Errorf("%s's store holds db1's configuration", host)
		}
	}
	if out, _ := op.run("diff"); strings.TrimSpace(out) != "" {
		t.Errorf("diff after a clean deploy:\n%s", out)
	}

	// A web1-only change contacts only web1.
	web2Before, db1Before := journalLines(t, l, "web2"), journalLines(t, l, "db1")
	op.write(map[string]string{"web1/site/index.html": "web1 v2\n"})
	out, code := op.run("deploy", "--yes")
	if code != 0 || !strings.Contains(out, "Deployed 1 of 1 hosts") {
		t.Fatalf("second deploy exited %d:\n%s", code, out)
	}
	if journalLines(t, l, "web2") != web2Before || journalLines(t, l, "db1") != db1Before {
		t.Error("a web1-only change reached web2 or db1")
	}
	if got := onHost(t, l, "web1", "cat /var/lib/deptool/apps/site/current/index.html /var/lib/deptool/apps/site/previous/index.html"); got != "web1 v2\nweb1 v1" {
		t.Errorf("web1 current and previous = %q", got)
	}
	if got := onHost(t, l, "web1", "git --git-dir /var/lib/deptool/store rev-parse current target"); len(strings.Fields(got)) != 2 || strings.Fields(got)[0] != strings.Fields(got)[1] {
		t.Errorf("web1 refs current and target differ after success: %q", got)
	}

	out, code = op.run("ping", "--count", "3")
	if code != 0 || !strings.Contains(out, "3 of 3 hosts answered") || !strings.Contains(out, "p95") {
		t.Errorf("ping exited %d:\n%s", code, out)
	}
	// A selection reaches the hosts it names and no other.
	out, code = op.stdout("ping", "--count", "1", "--verbose", "--limit", "web*")
	var reached []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == "web1" || f[0] == "web2" || f[0] == "db1") {
			reached = append(reached, f[0])
		}
	}
	if code != 0 || strings.Join(reached, " ") != "web1 web2" {
		t.Errorf("ping --limit web* exited %d, reached %v, want web1 web2:\n%s", code, reached, out)
	}
	out, code = op.run("status", "--verbose")
	if code != 0 || strings.Count(out, "up to date") != 3 {
		t.Errorf("status exited %d:\n%s", code, out)
	}
}

func TestHostFaultsFailOnlyThatHost(t *testing.T) {
	l := lab.StartFresh(t, "web1", "web2")
	op := newOperator(t, l)
	op.write(map[string]string{"web1/site/index.html": "one\n", "web2/site/index.html": "two\n"})

	t.Run("lock held by another deploy", func(t *testing.T) {
		onHost(t, l, "web1", "mkdir -p /var/lib/deptool && systemd-run --unit=holdlock flock /var/lib/deptool/lock sleep 600")
		out, code := op.run("deploy", "--yes")
		onHost(t, l, "web1", "systemctl stop holdlock")
		if code != exitHostFailed || !strings.Contains(out, "web1  busy") {
			t.Fatalf("deploy with web1 locked exited %d:\n%s", code, out)
		}
		if got := onHost(t, l, "web1", "ls /var/lib/deptool/apps 2>/dev/null | wc -l"); got != "0" {
			t.Error("a busy host was changed")
		}
		if got := onHost(t, l, "web2", "cat /var/lib/deptool/apps/site/current/index.html"); got != "two" {
			t.Errorf("web2 was not deployed beside the busy web1: %q", got)
		}
		st, _ := op.run("status")
		if !strings.Contains(st, "web1  new host") {
			t.Errorf("web1's ref moved although it was busy:\n%s", st)
		}
	})

	t.Run("hostname differs", func(t *testing.T) {
		onHost(t, l, "web1", "cp /etc/hostname /etc/hostname.bak && echo other > /etc/hostname")
		out, code := op.run("deploy", "--yes")
		onHost(t, l, "web1", "mv /etc/hostname.bak /etc/hostname")
		if code != exitHostFailed || !strings.Contains(out, "/etc/hostname says other") {
			t.Fatalf("deploy to a misnamed host exited %d:\n%s", code, out)
		}
	})

	t.Run("unknown host key", func(t *testing.T) {
		cfg, err := os.ReadFile(l.SSHConfig())
		if err != nil {
			t.Fatal(err)
		}
		empty := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(cfg), "\n")
		for i, line := range lines {
			if strings.HasPrefix(strings.TrimSpace(line), "UserKnownHostsFile") {
				lines[i] = "  UserKnownHostsFile " + empty
			}
		}
		strict := filepath.Join(t.TempDir(), "ssh_config")
		if err := os.WriteFile(strict, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		stranger := *op
		stranger.env = append(append([]string(nil), op.env...), "DEPTOOL_SSH_CONFIG="+strict)
		out, code := stranger.run("deploy", "--yes")
		if code != exitHostFailed || !strings.Contains(out, "unknown host key") || !strings.Contains(out, "ssh-keyscan") {
			t.Fatalf("deploy with unknown host keys exited %d:\n%s", code, out)
		}
	})

	t.Run("host down", func(t *testing.T) {
		onHost(t, l, "web1", "systemctl stop ssh.socket ssh.service 2>/dev/null; systemctl stop ssh.service; true")
		out, code := op.run("deploy", "--yes")
		if code != exitHostFailed || !strings.Contains(out, "web1  unreachable: "+l.Addr("web1")+":22: connect: ") {
			t.Fatalf("deploy with web1 down exited %d:\n%s", code, out)
		}
		namesHostsOnce(t, out, "web1", "web2")
		st, _ := op.run("status")
		if !strings.Contains(st, "web1  new host") || !strings.Contains(st, "web2  deployed") {
			t.Errorf("refs after web1 was down:\n%s", st)
		}
	})
}

// namesHostsOnce fails when a line of out names one of hosts twice: the
// host column says which host a line is about, the error does not repeat
// it.
func namesHostsOnce(t *testing.T, out string, hosts ...string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		for _, h := range hosts {
			if strings.Count(line, h) > 1 {
				t.Errorf("line names %s twice: %q", h, line)
			}
		}
	}
}
