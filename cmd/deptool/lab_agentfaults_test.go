package main

// Faults on the agent's side: a network cut mid-send, units that never
// finish starting or stopping, a host whose rollback failed, a login that
// never starts the agent.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/deploy/agent"
	"github.com/deptool/deptool/internal/lab"
)

// hostRoot is the directory a lab host's root is mounted at, seen from
// this machine, as the lab's state file records it: the host's files can
// be read there while its network is cut.
func hostRoot(t *testing.T, l *lab.Lab, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(l.StateDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Hosts []struct{ Name, Dir string } `json:"hosts"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	for _, h := range st.Hosts {
		if h.Name == name {
			return filepath.Join(h.Dir, "root")
		}
	}
	t.Fatalf("no host %s in the lab's state", name)
	return ""
}

// lockFree reports whether the host's deploy lock is free, asked from this
// machine through the host's root.
func lockFree(root string) bool {
	return exec.Command("flock", "-n", filepath.Join(root, "var/lib/deptool/lock"), "true").Run() == nil
}

// deployJSON starts a deploy with --output json, its standard error going
// to stderr, and returns it with a scanner over its events.
func deployJSON(t *testing.T, op *operator, stderr io.Writer, flags ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(op.bin, append([]string{"deploy", "--yes", "--output", "json"}, flags...)...)
	cmd.Dir, cmd.Env = op.root, op.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(stdout)
}

// startAt starts a deploy with --output json and calls at once it reports
// web1 in phase; it returns the running command.
func startAt(t *testing.T, op *operator, phase string, at func(), flags ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	var seen bytes.Buffer
	cmd, lines := deployJSON(t, op, &seen, flags...)
	for lines.Scan() {
		seen.Write(append(lines.Bytes(), '\n'))
		var ev struct{ Event, Host, Phase string }
		if json.Unmarshal(lines.Bytes(), &ev) == nil && ev.Event == "phase" && ev.Host == "web1" && ev.Phase == phase {
			at()
			go func() {
				for lines.Scan() {
				}
			}()
			return cmd, &seen
		}
	}
	cmd.Wait()
	t.Fatalf("the deploy ended without reporting web1 %s:\n%s", phase, seen.String())
	return nil, nil
}

// A network cut while the objects are on their way: the agent hears
// nothing more, gives up after its idle timeout and frees the lock,
// whatever sshd's keepalive says (off in the lab). The next deploy, once
// the network is back, converges.
func TestNetworkCutMidSendFreesTheLock(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	op.write(map[string]string{"web1/site/index.html": "v1\n"})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	big := make([]byte, 64<<20) // incompressible: the pack is as big
	rand.Read(big)
	op.write(map[string]string{"web1/site/index.html": "v2\n", "web1/site/big.bin": string(big)})
	root := hostRoot(t, l, "web1")
	var cutAt time.Time
	cmd, seen := startAt(t, op, "sending objects", func() {
		if err := l.Cut("web1"); err != nil {
			t.Fatal(err)
		}
		cutAt = time.Now()
	})
	defer l.Restore("web1")
	bound := agent.IdleTimeout + 5*time.Second // the agent's bound, and polling
	for !lockFree(root) {
		if time.Since(cutAt) > bound {
			cmd.Process.Kill()
			t.Fatalf("the lock is still held %s after the cut", time.Since(cutAt).Round(time.Second))
		}
		time.Sleep(200 * time.Millisecond) // polling interval, not a wait for an outcome
	}
	freed := time.Since(cutAt)
	t.Logf("lock free %s after the cut", freed.Round(100*time.Millisecond))
	if freed < agent.IdleTimeout-time.Second {
		t.Errorf("the lock was free %s after the cut, before the idle timeout: did the cut land after the send?", freed)
	}
	err := cmd.Wait()
	gaveUp := time.Since(cutAt)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitHostFailed {
		t.Errorf("the cut deploy exited %v, want %d:\n%s", err, exitHostFailed, seen.String())
	}
	t.Logf("the operator gave up %s after the cut", gaveUp.Round(100*time.Millisecond))
	if gaveUp < agent.IdleTimeout {
		t.Fatalf("the operator gave up before the bound, the restore would not come after it")
	}
	if err := l.Restore("web1"); err != nil {
		t.Fatal(err)
	}
	out, code := op.run("deploy", "--yes")
	if code != 0 {
		t.Fatalf("deploy after the network came back exited %d:\n%s", code, out)
	}
	if got := onHost(t, l, "web1", "cat /var/lib/deptool/apps/site/current/index.html; wc -c < /var/lib/deptool/apps/site/current/big.bin"); got != "v2\n"+"67108864" {
		t.Errorf("after the deploy that converged: %q", got)
	}
}

// endless is a unit whose start never finishes: Type=notify that never
// notifies, with systemd's own start timeout off.
const endlessStart = "[Service]\nType=notify\nExecStart=/bin/sleep infinity\nTimeoutStartSec=infinity\n\n[Install]\nWantedBy=multi-user.target\n"

// endlessStop is a unit whose stop never finishes.
const endlessStop = "[Service]\nExecStart=/bin/sleep infinity\nExecStop=/bin/sleep 600\nTimeoutStopSec=infinity\n\n[Install]\nWantedBy=multi-user.target\n"

// A unit job systemd would wait for forever counts as failed at the unit
// timeout; its processes are killed, and the host rolls back, the rollback
// bounded as well.
func TestEndlessUnitRollsBackWithinTheUnitTimeout(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	const timeout = 5 * time.Second
	app := func(unit, conf string) map[string]string {
		return map[string]string{
			"web1/svc/manifest.json":       `{"systemd": {"units_enabled": ["dta.service"]}}`,
			"web1/svc/systemd/dta.service": unit,
			"web1/svc/dtest.conf":          conf,
		}
	}
	op.write(app(goodUnit, "v1\n"))
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}

	t.Run("start never finishes", func(t *testing.T) {
		op.write(app(endlessStart, "v2\n"))
		start := time.Now()
		out, code := op.run("deploy", "--yes", "--settle", "0s", "--unit-timeout", timeout.String())
		took := time.Since(start)
		t.Logf("rolled back in %s", took.Round(100*time.Millisecond))
		if code != deploy.ExitRolledBack || !strings.Contains(out, "job timed out") {
			t.Fatalf("deploy of an endless start exited %d:\n%s", code, out)
		}
		if took > timeout+15*time.Second {
			t.Errorf("the deploy took %s with a unit timeout of %s", took, timeout)
		}
		if got := onHost(t, l, "web1", "cat /var/lib/deptool/apps/svc/current/dtest.conf; systemctl is-active dta.service; flock -n /var/lib/deptool/lock echo free"); got != "v1\nactive\nfree" {
			t.Errorf("host after the rollback: %q", got)
		}
	})

	t.Run("stop never finishes", func(t *testing.T) {
		// A unit of its own, so that its first deploy only starts it.
		stopper := func(conf string) map[string]string {
			return map[string]string{
				"web1/stopper/manifest.json":       `{"systemd": {"units_enabled": ["dtb.service"]}}`,
				"web1/stopper/systemd/dtb.service": endlessStop,
				"web1/stopper/dtest.conf":          conf,
			}
		}
		op.write(app(goodUnit, "v1\n")) // what web1 runs since the rollback
		op.write(stopper("v1\n"))
		if out, code := op.run("deploy", "--yes", "--settle", "0s", "--unit-timeout", timeout.String()); code != 0 {
			t.Fatalf("deploy of the endless stop exited %d:\n%s", code, out)
		}
		// Restarting it runs its endless ExecStop=: the apply times out
		// and rolls back, whose restart runs it again, bounded the same.
		op.write(stopper("v2\n"))
		start := time.Now()
		out, code := op.run("deploy", "--yes", "--settle", "0s", "--unit-timeout", timeout.String())
		took := time.Since(start)
		t.Logf("rolled back in %s:\n%s", took.Round(100*time.Millisecond), out)
		if code != deploy.ExitRolledBack || !strings.Contains(out, "job timed out") {
			t.Fatalf("deploy over an endless stop exited %d:\n%s", code, out)
		}
		if took > 2*timeout+20*time.Second {
			t.Errorf("the deploy took %s with a unit timeout of %s", took, timeout)
		}
		if got := onHost(t, l, "web1", "cat /var/lib/deptool/apps/stopper/current/dtest.conf; systemctl is-active dtb.service; flock -n /var/lib/deptool/lock echo free"); got != "v1\nactive\nfree" {
			t.Errorf("host after the rollback: %q", got)
		}
	})
}

// A host whose rollback failed is repaired by the next deploy of a tree
// that works, even with --no-rollback; so is one whose current link was
// pointed at a directory that does not exist.
func TestRollbackFailedIsRepairedByTheNextDeploy(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	needy := "[Service]\nExecStartPre=/bin/test -f /etc/dtest-needed\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n"
	broken := "[Service]\nExecStart=/bin/false\n\n[Install]\nWantedBy=multi-user.target\n"
	app := func(unit, conf string) map[string]string {
		return map[string]string{
			"web1/svc/manifest.json":       `{"systemd": {"units_enabled": ["dta.service"]}}`,
			"web1/svc/systemd/dta.service": unit,
			"web1/svc/dtest.conf":          conf,
		}
	}
	onHost(t, l, "web1", "touch /etc/dtest-needed")
	op.write(app(needy, "v1\n"))
	if out, code := op.run("deploy", "--yes", "--settle", "1s"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	onHost(t, l, "web1", "rm /etc/dtest-needed")
	op.write(app(broken, "v2\n"))
	if out, code := op.run("deploy", "--yes", "--settle", "1s"); code != deploy.ExitRollbackFailed {
		t.Fatalf("the broken v2 with a v1 that cannot start either exited %d, want %d:\n%s", code, deploy.ExitRollbackFailed, out)
	}
	op.write(app(goodUnit, "v3\n"))
	out, code := op.run("deploy", "--yes", "--settle", "1s", "--no-rollback")
	if code != 0 {
		t.Fatalf("the fixed v3 after the failed rollback exited %d:\n%s", code, out)
	}
	if got := onHost(t, l, "web1", "cat /var/lib/deptool/apps/svc/current/dtest.conf; systemctl is-active dta.service"); got != "v3\nactive" {
		t.Errorf("host after the repair: %q", got)
	}

	// current pointed at nothing by hand, then a deploy that fails: the
	// rollback goes back to the host store's current commit.
	onHost(t, l, "web1", "ln -sfn /nonexistent /var/lib/deptool/apps/svc/current")
	op.write(app(broken, "v4\n"))
	if out, code := op.run("deploy", "--yes", "--settle", "1s"); code != deploy.ExitRolledBack {
		t.Fatalf("broken v4 over a current link pointed at nothing exited %d, want %d:\n%s", code, deploy.ExitRolledBack, out)
	}
	if got := onHost(t, l, "web1", "cat /var/lib/deptool/apps/svc/current/dtest.conf; systemctl is-active dta.service"); got != "v3\nactive" {
		t.Errorf("host after the rollback: %q", got)
	}
	op.write(app(goodUnit, "v5\n"))
	if out, code := op.run("deploy", "--yes", "--settle", "1s"); code != 0 {
		t.Fatalf("v5 exited %d:\n%s", code, out)
	}
}

// A login that runs something other than the agent (a forced command in
// authorized_keys) never answers the hello: ping ends within the hello's
// deadline with an error naming the host, and SIGINT ends it at once.
func TestLoginThatNeverStartsTheAgent(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	op.write(map[string]string{"web1/site/index.html": "v1\n"})
	// sleep 601: a command line no other test's process has, so this one
	// can count its own.
	onHost(t, l, "web1", `sed -i 's/^/command="sleep 601" /' /root/.ssh/authorized_keys`)
	forced := func() int {
		out, _ := exec.Command("pgrep", "-c", "-x", "-f", "sleep 601").Output()
		n := 0
		fmt.Sscan(string(out), &n)
		return n
	}

	start := time.Now()
	out, code := op.run("ping", "--count", "1")
	took := time.Since(start)
	t.Logf("ping ended in %s:\n%s", took.Round(100*time.Millisecond), out)
	if code != exitHostFailed || !strings.Contains(out, "web1  error: no answer from deptool's agent") || !strings.Contains(out, "'ssh web1 true'") {
		t.Errorf("ping against a login without the agent exited %d:\n%s", code, out)
	}
	if took > deploy.HelloTimeout+10*time.Second {
		t.Errorf("ping took %s, the hello's deadline is %s", took, deploy.HelloTimeout)
	}

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command(op.bin, "deploy", "--yes")
		cmd.Dir, cmd.Env = op.root, op.env
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		before := forced()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Signal once the login ran its forced command: the deploy is
		// waiting for the hello then.
		for end := time.Now().Add(20 * time.Second); forced() <= before; {
			if time.Now().After(end) {
				cmd.Process.Kill()
				t.Fatalf("the forced command never ran:\n%s", buf.String())
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an outcome
		}
		sent := time.Now()
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
			t.Logf("%s: deploy ended %s after the signal", sig, time.Since(sent).Round(time.Millisecond))
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("%s: deploy still running 3s after the signal:\n%s", sig, buf.String())
		}
	}
}

// A pre-existing /var/lib/deptool of mode 1777 is refused before an agent
// runs from it. A local user's /tmp/cfg -> /root: a manifest link at
// /tmp/cfg/app.conf is refused, and nothing appears in /root.
func TestUnsafeStateDirAndLinkThroughAUsersSymlinkAreRefused(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	onHost(t, l, "web1", "ln -s /root /tmp/cfg && chown -h nobody /tmp/cfg")
	op.write(map[string]string{
		"web1/app/app.conf":      "secret-looking\n",
		"web1/app/manifest.json": `{"symlinks": {"/tmp/cfg/app.conf": "app.conf"}}`,
	})
	// First a state directory others can write: refused before the
	// agent runs from it.
	onHost(t, l, "web1", "mkdir -p /var/lib/deptool && chmod 1777 /var/lib/deptool")
	out, code := op.run("deploy", "--yes")
	t.Logf("with /var/lib/deptool 1777:\n%s", out)
	if code != exitHostFailed || !strings.Contains(out, "web1  failed: /var/lib/deptool is a symlink, not owned by root, or writable by other users") {
		t.Fatalf("deploy with /var/lib/deptool 1777 exited %d:\n%s", code, out)
	}
	if got := onHost(t, l, "web1", "ls -A /var/lib/deptool/bin 2>/dev/null | wc -l"); got != "0" {
		t.Errorf("an agent was uploaded into the unsafe directory: %s", got)
	}
	onHost(t, l, "web1", "chmod 755 /var/lib/deptool")
	out, code = op.run("deploy", "--yes")
	t.Logf("through /tmp/cfg -> /root:\n%s", out)
	if code != exitHostFailed || !strings.Contains(out, "/tmp/cfg is a symlink, and deptool does not follow links it did not make") {
		t.Fatalf("deploy through /tmp/cfg -> /root exited %d:\n%s", code, out)
	}
	if got := onHost(t, l, "web1", "ls -A /root; test -e /root/app.conf && echo PRESENT || echo absent"); strings.Contains(got, "PRESENT") {
		t.Errorf("/root/app.conf appeared: %s", got)
	}
}

// A host whose link stalls while its objects are on their way holds up
// only itself: the other host, let in after the stall began, sends, applies
// and is deployed while the stalled host's send still hangs. (The store
// used to hold its lock while a pack drained into the SSH channel, so the
// second host waited until the first one's connection died.)
func TestStalledSendHoldsUpOnlyItsHost(t *testing.T) {
	l := lab.StartFresh(t, "web1", "web2")
	op := newOperator(t, l)
	op.write(map[string]string{"web1/site/index.html": "v1\n", "web2/site/index.html": "v1\n"})
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	big := make([]byte, 64<<20) // incompressible: the pack is as big
	rand.Read(big)
	op.write(map[string]string{"web1/site/index.html": "v2\n", "web1/site/big.bin": string(big), "web2/site/index.html": "v2\n"})
	// web2 is frozen until web1's send stalls: its deploy cannot get
	// ahead of web1's.
	if err := l.Freeze("web2"); err != nil {
		t.Fatal(err)
	}
	defer l.Thaw("web2")
	defer l.Restore("web1")

	var stderr bytes.Buffer
	cmd, lines := deployJSON(t, op, &stderr, "--settle", "0s")
	defer cmd.Process.Kill()
	var seen bytes.Buffer
	cut := false
	var cutAt time.Time
	for lines.Scan() {
		seen.Write(append(lines.Bytes(), '\n'))
		var ev struct{ Event, Host, Phase, Outcome string }
		if json.Unmarshal(lines.Bytes(), &ev) != nil {
			continue
		}
		switch {
		case !cut && ev.Event == "phase" && ev.Host == "web1" && ev.Phase == "sending objects":
			if err := l.Cut("web1"); err != nil {
				t.Fatal(err)
			}
			if err := l.Thaw("web2"); err != nil {
				t.Fatal(err)
			}
			cut, cutAt = true, time.Now()
		case ev.Event == "outcome" && ev.Host == "web1":
			t.Fatalf("web1's stalled send ended (%s) before web2 was deployed:\n%s%s", ev.Outcome, seen.String(), stderr.String())
		case ev.Event == "outcome" && ev.Host == "web2":
			if !cut {
				t.Fatalf("web2 ended before web1 began sending: the test proves nothing:\n%s", seen.String())
			}
			if ev.Outcome != "deployed" {
				t.Fatalf("web2 %s:\n%s%s", ev.Outcome, seen.String(), stderr.String())
			}
			t.Logf("web2 deployed %s after web1's link was cut", time.Since(cutAt).Round(100*time.Millisecond))
			if got := onHost(t, l, "web2", "cat /var/lib/deptool/apps/site/current/index.html"); got != "v2" {
				t.Errorf("web2 serves %q, want v2", got)
			}
			return
		}
	}
	t.Fatalf("the deploy ended without an outcome for web2:\n%s%s", seen.String(), stderr.String())
}
