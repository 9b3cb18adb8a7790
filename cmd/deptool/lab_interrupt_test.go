package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
)

// runningDeploy is 'deptool deploy --yes --output json' in the background,
// its events read as they come.
type runningDeploy struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr lockedBuffer
	mu     sync.Mutex
	events []map[string]any
	lines  []string
	more   chan struct{} // signalled on every event
	done   chan struct{}
}

func startDeploy(t *testing.T, op *operator, flags ...string) *runningDeploy {
	t.Helper()
	cmd := exec.Command(op.bin, append([]string{"deploy", "--yes", "--output", "json"}, flags...)...)
	cmd.Dir, cmd.Env = op.root, op.env
	d := &runningDeploy{t: t, cmd: cmd, more: make(chan struct{}, 1), done: make(chan struct{})}
	cmd.Stderr = &d.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			json.Unmarshal(sc.Bytes(), &ev)
			d.mu.Lock()
			d.events, d.lines = append(d.events, ev), append(d.lines, sc.Text())
			d.mu.Unlock()
			select {
			case d.more <- struct{}{}:
			default:
			}
		}
	}()
	return d
}

// lockedBuffer is a buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitStderr waits until the deploy's stderr holds want.
func (d *runningDeploy) waitStderr(want string) {
	d.t.Helper()
	end := time.Now().Add(30 * time.Second)
	for !strings.Contains(d.stderr.String(), want) {
		if time.Now().After(end) {
			d.t.Fatalf("stderr never said %q:\n%s", want, d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// waitUntil waits until cond holds of the events so far.
func (d *runningDeploy) waitUntil(what string, cond func(events []map[string]any) bool) {
	d.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		d.mu.Lock()
		ok := cond(d.events)
		d.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-d.more:
		case <-d.done:
			d.mu.Lock()
			ok := cond(d.events)
			d.mu.Unlock()
			if !ok {
				d.t.Fatalf("the deploy ended before %s:\n%s\n%s", what, d.output(), d.stderr.String())
			}
			return
		case <-deadline:
			d.t.Fatalf("no %s within 60s:\n%s", what, d.output())
		}
	}
}

func (d *runningDeploy) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.lines, "\n")
}

// exit waits for the deploy and returns its exit status.
func (d *runningDeploy) exit() int {
	d.t.Helper()
	<-d.done
	err := d.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		d.t.Fatal(err)
	}
	return 0
}

// settling reports whether every one of hosts reported its units settling.
func settling(hosts ...string) func([]map[string]any) bool {
	return func(events []map[string]any) bool {
		seen := map[string]bool{}
		for _, ev := range events {
			if ev["event"] == "phase" && ev["phase"] == "applying" && ev["detail"] == "settle" {
				seen[ev["host"].(string)] = true
			}
		}
		for _, h := range hosts {
			if !seen[h] {
				return false
			}
		}
		return true
	}
}

// outcomes are the hosts' outcomes in the stream, by host.
func (d *runningDeploy) outcomes() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]string{}
	for _, ev := range d.events {
		if ev["event"] == "outcome" {
			out[ev["host"].(string)] = fmt.Sprint(ev["outcome"])
		}
	}
	return out
}

func interruptUnits(hosts []string, version string) map[string]string {
	files := map[string]string{}
	for _, h := range hosts {
		files[h+"/svc/manifest.json"] = `{"systemd": {"units_enabled": ["dti.service"]}}`
		files[h+"/svc/systemd/dti.service"] = goodUnit
		files[h+"/svc/dti.conf"] = version + "\n"
	}
	return files
}

// Ctrl-C while hosts settle: they are followed to their real outcome,
// which is printed, recorded and in the exit status. A second Ctrl-C
// stops following; the hosts finish on their own and the next deploy
// records what they did, as its own store's work. (That hosts not yet
// started are skipped and stay pending is the operator's logic:
// deploy.TestSeamOneInterrupt.)
func TestInterruptMidSettle(t *testing.T) {
	hosts := []string{"web1", "web2", "web3"}
	l := lab.StartFresh(t, hosts...)
	op := newOperator(t, l)
	op.write(interruptUnits(hosts, "v1"))
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}

	// One interrupt, every host settling: all deploy, exit 0.
	op.write(interruptUnits(hosts, "v2"))
	d := startDeploy(t, op, "--settle", "4s", "--confirm-timeout", "0s")
	d.waitUntil("every host settling", settling(hosts...))
	d.cmd.Process.Signal(syscall.SIGINT)
	if code := d.exit(); code != 0 {
		t.Errorf("deploy interrupted once mid-settle exited %d, want 0:\n%s\n%s", code, d.output(), d.stderr.String())
	}
	for _, h := range hosts {
		if got := d.outcomes()[h]; got != "deployed" {
			t.Errorf("%s: outcome %q, want deployed:\n%s", h, got, d.output())
		}
	}
	if want := "Interrupted: starting no new hosts; following web1, web2, web3 to the end of the apply"; !strings.Contains(d.stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, d.stderr.String())
	}
	st, _ := op.run("status", "--verbose")
	if strings.Contains(st, "undeployed") || strings.Count(st, "deployed") < 3 {
		t.Errorf("status after the interrupted deploy:\n%s", st)
	}
	lg, _ := op.run("log", "-n", "1", "--verbose")
	for _, h := range hosts {
		if !strings.Contains(lg, h+"  deployed") {
			t.Errorf("log does not say %s deployed:\n%s", h, lg)
		}
	}

	// Twice: the hosts are abandoned to finish on their own.
	op.write(interruptUnits(hosts, "v4"))
	d = startDeploy(t, op, "--settle", "4s", "--confirm-timeout", "0s")
	d.waitUntil("every host settling", settling(hosts...))
	d.cmd.Process.Signal(syscall.SIGINT)
	d.waitStderr("Interrupted: starting no new hosts")
	d.cmd.Process.Signal(syscall.SIGINT)
	if code := d.exit(); code != exitHostFailed {
		t.Errorf("deploy interrupted twice exited %d, want %d:\n%s", code, exitHostFailed, d.output())
	}
	for _, h := range hosts {
		if got := d.outcomes()[h]; got != "abandoned" {
			t.Errorf("%s: outcome %q after two interrupts, want abandoned:\n%s", h, got, d.output())
		}
	}
	// Without a confirmation to wait for, each host finishes by itself.
	if want := "it finishes the apply on its own, deployed or rolled back by its own checks"; strings.Count(d.output(), want) != len(hosts) {
		t.Errorf("the abandoned hosts' outcomes do not each say %q:\n%s", want, d.output())
	}
	if want := "Interrupted again: no longer waiting for web1, web2, web3; each host's outcome says what it does by itself"; !strings.Contains(d.stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, d.stderr.String())
	}
	for _, h := range hosts {
		waitFor(t, l, h, "flock -n /var/lib/deptool/lock true && tail -1 /var/lib/deptool/journal.jsonl | grep -q '\"outcome\":\"deployed\"'", 30*time.Second)
	}
	out, code := op.run("deploy", "--yes", "--settle", "0s")
	if code != 0 || strings.Contains(out, "another store") || !strings.Contains(out, "deployed: already deployed by deploy") || strings.Contains(out, "undeployed") {
		t.Errorf("deploy after the abandoned one exited %d, want 0 with each host found deployed:\n%s", code, out)
	}
	namesHostsOnce(t, out, hosts...)
	lg, _ = op.run("log", "-n", "2", "--verbose")
	if strings.Count(lg, "deployed: found on the host by deploy") != 3 {
		t.Errorf("log does not record what the abandoned deploy did:\n%s", lg)
	}
	if out, _ := op.run("deploy", "--yes"); !strings.Contains(out, "Nothing to deploy") {
		t.Errorf("a third deploy has work to do:\n%s", out)
	}
}

// The operator is killed while a host waits for its confirmation. The next
// deploy, started at once, does not stop at "busy": its own new connection
// confirms the waiting apply, it waits for that apply to finish, records
// it as this store's, and converges without waiting for the timeout.
func TestKilledMidConfirmationNextDeployConverges(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	op.write(interruptUnits([]string{"web1"}, "v1"))
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	op.write(interruptUnits([]string{"web1"}, "v2"))
	killAt(t, op, "confirming", "", "--settle", "1s", "--confirm-timeout", "60s")
	start := time.Now()
	out, code := op.run("deploy", "--yes", "--settle", "0s")
	took := time.Since(start)
	t.Logf("deploy after the kill, %s:\n%s", took, out)
	if code != 0 || !strings.Contains(out, "web1  deployed") {
		t.Fatalf("deploy right after the kill exited %d, want 0:\n%s", code, out)
	}
	if took > 30*time.Second {
		t.Errorf("the deploy took %s: it waited for the host's own timeout", took.Round(time.Second))
	}
	namesHostsOnce(t, out, "web1")
	if got := onHost(t, l, "web1", "cat /var/lib/deptool/apps/svc/current/dti.conf; tail -1 /var/lib/deptool/journal.jsonl"); !strings.HasPrefix(got, "v2\n") || !strings.Contains(got, `"outcome":"deployed"`) {
		t.Errorf("web1 after the deploy:\n%s", got)
	}
	lg, _ := op.run("log", "-n", "2")
	if !strings.Contains(lg, "web1  deployed: found on the host by deploy") {
		t.Errorf("log does not record the killed deploy's real outcome:\n%s", lg)
	}
	if out, _ := op.run("deploy", "--yes"); !strings.Contains(out, "Nothing to deploy") {
		t.Errorf("a third deploy has work to do:\n%s", out)
	}
}

// One interrupt of any kind (Ctrl-C, SIGTERM, a closed terminal's SIGHUP)
// while hosts settle or are being confirmed: the confirmation still
// reaches them, so they end deployed, none rolled back, exit 0. Before,
// the interrupt also ended the confirmation's login, and each host rolled
// back at its deadline for want of it.
func TestInterruptOnceFollowsThroughConfirmation(t *testing.T) {
	hosts := []string{"web1", "web2"}
	l := lab.StartFresh(t, hosts...)
	op := newOperator(t, l)
	op.write(interruptUnits(hosts, "v1"))
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	// Every host applying (an interrupt before that rightly skips one),
	// and one of them being confirmed.
	confirming := func(evs []map[string]any) bool {
		return settling(hosts...)(evs) && slices.ContainsFunc(evs, func(ev map[string]any) bool { return ev["event"] == "phase" && ev["phase"] == "confirming" })
	}
	for i, c := range []struct {
		sig  syscall.Signal
		when string
		at   func([]map[string]any) bool
	}{
		{syscall.SIGINT, "every host settling", settling(hosts...)},
		{syscall.SIGTERM, "a host confirming", confirming},
		{syscall.SIGHUP, "every host settling", settling(hosts...)},
	} {
		version := fmt.Sprintf("v%d", i+2)
		op.write(interruptUnits(hosts, version))
		d := startDeploy(t, op, "--settle", "2s", "--confirm-timeout", "10s")
		d.waitUntil(c.when, c.at)
		d.cmd.Process.Signal(c.sig)
		if code := d.exit(); code != 0 {
			t.Errorf("%v at %s: exit %d, want 0:\n%s\n%s", c.sig, c.when, code, d.output(), d.stderr.String())
		}
		for _, h := range hosts {
			if got := d.outcomes()[h]; got != "deployed" {
				t.Errorf("%v at %s: %s ended %q, want deployed:\n%s\n%s", c.sig, c.when, h, got, d.output(), d.stderr.String())
			}
			got := onHost(t, l, h, "cat /var/lib/deptool/apps/svc/current/dti.conf; grep -c 'rolled back' /var/lib/deptool/journal.jsonl || true")
			if got != version+"\n0" {
				t.Errorf("%v at %s: %s runs, and its journal's rollbacks count: %q, want %s and none", c.sig, c.when, h, got, version)
			}
		}
		if strings.Contains(d.stderr.String(), "finish on their own") {
			t.Errorf("%v: says hosts finish on their own:\n%s", c.sig, d.stderr.String())
		}
	}
}
