package lab_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
)

// The fault tests share one lab, each on a host of its own, and leave it
// as they found it.
var faultHosts = []string{"fcut", "ffrz", "fstop", "fdisk"}

// banner connects to the host's sshd and reads its banner line within d.
func banner(addr string, d time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "22"), d)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	return bufio.NewReader(c).ReadString('\n')
}

// A cut host is unreachable at once, and its packets never go to the
// default gateway: the route lookup itself says unreachable.
func TestCutIsUnreachableNotRoutedOut(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, faultHosts...)
	const h = "fcut"
	addr := l.Addr(h)
	if out, err := exec.Command("ip", "-o", "route", "show", "exact", "198.18.0.0/15").Output(); err != nil || !strings.HasPrefix(string(out), "unreachable ") {
		t.Fatalf("ip route show exact 198.18.0.0/15 = %q, %v; want the unreachable route", out, err)
	}
	if err := l.Cut(h); err != nil {
		t.Fatal(err)
	}
	restored := false
	defer func() {
		if !restored {
			l.Restore(h)
		}
	}()
	out, err := exec.Command("ip", "route", "get", addr).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "No route to host") {
		t.Errorf("ip route get %s after Cut: %v: %s; want 'No route to host' (never via the default gateway)", addr, err, out)
	}
	start := time.Now()
	_, err = net.DialTimeout("tcp", net.JoinHostPort(addr, "22"), 5*time.Second)
	if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("connect to a cut host: %v; want EHOSTUNREACH", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("connect to a cut host took %v; want an immediate failure", d)
	}
	if _, err := l.Exec(h, "true"); err == nil {
		t.Error("Exec on a cut host succeeded")
	}
	if err := l.Restore(h); err != nil {
		t.Fatal(err)
	}
	restored = true
	if got := run(t, l, h, "hostname"); got != h {
		t.Errorf("after Restore: hostname = %q", got)
	}
}

// A frozen host accepts TCP (its kernel runs) but its sshd never answers;
// thawed, it carries on.
func TestFreezeHangsThawResumes(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, faultHosts...)
	const h = "ffrz"
	if b, err := banner(l.Addr(h), 5*time.Second); err != nil || !strings.HasPrefix(b, "SSH-2.0-") {
		t.Fatalf("banner before Freeze = %q, %v", b, err)
	}
	if err := l.Freeze(h); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			l.Thaw(h)
		}
	}()
	b, err := banner(l.Addr(h), 2*time.Second)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("ssh to a frozen host: banner %q, err %v; want a timeout", b, err)
	}
	if err := l.Thaw(h); err != nil {
		t.Fatal(err)
	}
	thawed = true
	if got := run(t, l, h, "hostname"); got != h {
		t.Errorf("after Thaw: hostname = %q", got)
	}
}

// A stopped host refuses connections; started again, it is the same host:
// same files, same host key (the lab's own client pins it, and OpenSSH
// checks it strictly against known_hosts).
func TestStopStartKeepsTheHost(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, faultHosts...)
	const h = "fstop"
	run(t, l, h, "sh", "-c", "echo kept > /root/stop-marker")
	defer l.Exec(h, "rm", "-f", "/root/stop-marker")
	// PID 1's start time, in clock ticks since the machine booted: a new
	// boot of the host has a later one.
	const initStart = "cut -d' ' -f22 /proc/1/stat"
	before := run(t, l, h, "sh", "-c", initStart)
	if err := l.Stop(h); err != nil {
		t.Fatal(err)
	}
	started := false
	defer func() {
		if !started {
			l.Start(context.Background(), h)
		}
	}()
	_, err := net.DialTimeout("tcp", net.JoinHostPort(l.Addr(h), "22"), 5*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect to a stopped host: %v; want ECONNREFUSED", err)
	}
	if _, err := l.Exec(h, "true"); err == nil || !strings.Contains(err.Error(), "is stopped") {
		t.Errorf("Exec on a stopped host: %v; want 'is stopped'", err)
	}
	start := time.Now()
	if err := l.Start(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	started = true
	t.Logf("Start took %v", time.Since(start))
	if got := run(t, l, h, "cat", "/root/stop-marker"); got != "kept" {
		t.Errorf("file written before Stop: %q", got)
	}
	if got := run(t, l, h, "systemctl", "is-system-running"); got != "running" {
		t.Errorf("after Start: %s", got)
	}
	if got := run(t, l, h, "sh", "-c", initStart); got == before {
		t.Errorf("PID 1 started at tick %s, as before Stop: the host did not boot again", got)
	}
	if _, err := exec.LookPath("ssh"); err == nil {
		out, err := exec.Command("ssh", "-F", l.SSHConfig(), "-o", "BatchMode=yes", h, "hostname").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != h {
			t.Errorf("OpenSSH after Start (strict host key checking): %v: %s", err, out)
		}
	}
	if err := l.Start(context.Background(), h); err != nil {
		t.Errorf("Start of a running host: %v", err)
	}
}

// Writing past the limit fails with ENOSPC; lifting it keeps what was
// written and gives room again.
func TestLimitDisk(t *testing.T) {
	t.Parallel()
	l := lab.Start(t, faultHosts...)
	const h, dir = "fdisk", "/var/lib/limit-test"
	run(t, l, h, "sh", "-c", "mkdir -p "+dir+" && echo before > "+dir+"/old")
	defer l.Exec(h, "rm", "-rf", dir)
	if err := l.LimitDisk(h, dir, "1m"); err != nil {
		t.Fatal(err)
	}
	limited := true
	defer func() {
		if limited {
			l.UnlimitDisk(h, dir)
		}
	}()
	if got := run(t, l, h, "cat", dir+"/old"); got != "before" {
		t.Errorf("contents under the limit: %q", got)
	}
	_, err := l.Exec(h, "dd", "if=/dev/zero", "of="+dir+"/big", "bs=64k", "count=32")
	var ee *lab.ExitError
	if !errors.As(err, &ee) || !strings.Contains(ee.Stderr, "No space left on device") {
		t.Errorf("writing 2 MiB under a 1 MiB limit: %v; want ENOSPC", err)
	}
	if err := l.LimitDisk(h, dir, "1m"); err == nil || !strings.Contains(err.Error(), "limited already") {
		t.Errorf("second LimitDisk: %v", err)
	}
	run(t, l, h, "sh", "-c", "rm "+dir+"/big; echo during > "+dir+"/new")
	if err := l.UnlimitDisk(h, dir); err != nil {
		t.Fatal(err)
	}
	limited = false
	if got := run(t, l, h, "cat", dir+"/old", dir+"/new"); got != "before\nduring" {
		t.Errorf("after UnlimitDisk: %q", got)
	}
	run(t, l, h, "dd", "if=/dev/zero", "of="+dir+"/big", "bs=64k", "count=32")
	if err := l.UnlimitDisk(h, dir); err == nil || !strings.Contains(err.Error(), "no disk limit") {
		t.Errorf("UnlimitDisk without a limit: %v", err)
	}
	for _, bad := range [][2]string{{"var/x", "1m"}, {"/", "1m"}, {dir, "1x"}, {dir, "0"}} {
		if err := l.LimitDisk(h, bad[0], bad[1]); err == nil {
			t.Errorf("LimitDisk(%q, %q) = nil", bad[0], bad[1])
		}
	}
}
