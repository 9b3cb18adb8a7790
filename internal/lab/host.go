package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// boot brings host h from nothing to a running system with no failed units.
// Each resource is recorded before it is created, so teardown finds it even
// if this process dies half-way.
func (l *Lab) boot(ctx context.Context, h *hostState, cgroupRoots []string, clientPub []byte, prepare func(string) error) error {
	if err := setupNetwork(ctx, h); err != nil {
		return err
	}
	if err := l.record(func() {
		h.Dir = filepath.Join(l.st.Work, h.Name)
		h.Mounts = []string{h.root()}
	}); err != nil {
		return err
	}
	if err := mountOverlay(h); err != nil {
		return err
	}
	hostKey, hostPub, err := newKey("root@" + h.Name)
	if err != nil {
		return err
	}
	if err := l.record(func() { h.HostKey = hostPub }); err != nil {
		return err
	}
	if err := prepareRoot(h, hostKey, clientPub); err != nil {
		return err
	}
	if prepare != nil {
		if err := prepare(h.root()); err != nil {
			return err
		}
	}
	if err := l.makeCgroups(h, cgroupRoots); err != nil {
		return err
	}
	if err := l.spawn(h); err != nil {
		return err
	}
	if err := l.findInit(ctx, h); err != nil {
		return err
	}
	if err := l.waitReady(ctx, h); err != nil {
		return err
	}
	return l.record(func() { h.Ready = true })
}

// allocate reserves the host's machine-wide index, which fixes its
// addresses and veth name.
func (l *Lab) allocate(h *hostState) error {
	_, err := allocIndex(l.st, l.dir, h.Name, func(i int) error {
		return l.record(func() {
			h.Index, h.Veth, h.Netns = i, vethName(i), h.Machine
		})
	})
	if err != nil {
		return fmt.Errorf("lab: host %s: %w", h.Name, err)
	}
	return nil
}

func (l *Lab) makeCgroups(h *hostState, roots []string) error {
	var paths []string
	for _, r := range roots {
		paths = append(paths, filepath.Join(r, "deptool-"+h.Machine))
	}
	if err := l.record(func() { h.Cgroups = paths }); err != nil {
		return err
	}
	for _, p := range paths {
		if err := os.Mkdir(p, 0o755); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
	}
	return nil
}

// launcher moves itself into the host's cgroups and then becomes nspawn,
// so nspawn and everything it starts are born there: moving nspawn after
// it started would race with the cgroups it creates for the container.
const launcher = `for c in $DEPTOOL_LAB_CGROUPS; do echo $$ > "$c/cgroup.procs" || exit 111; done; exec "$@"`

func (l *Lab) spawn(h *hostState) error {
	nspawn, err := exec.LookPath("systemd-nspawn")
	if err != nil {
		return errNoNspawn
	}
	logf, err := os.OpenFile(h.log(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("nspawn log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command("/bin/sh", "-c", launcher, "sh", nspawn,
		"--directory="+h.root(),
		"--boot",
		"--machine="+h.Machine,
		"--hostname="+h.Name,
		// No machine-wide systemd or system bus to register with.
		"--register=no", "--keep-unit",
		"--network-namespace-path="+filepath.Join(netnsDir, h.Netns),
		"--console=passive",
		// Linking would create directories in the machine's journal.
		"--link-journal=no",
	)
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"DEPTOOL_LAB_CGROUPS=" + strings.Join(h.Cgroups, " "),
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: the host outlives `up`, and a ^C at the terminal
	// that started it must not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start systemd-nspawn: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p, err := procOf(cmd.Process.Pid)
	if err == nil {
		err = l.record(func() { h.Nspawn = p })
	}
	l.mu.Lock()
	l.exited[h.Name] = exited
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("systemd-nspawn exited at once: %s", tail(h.log(), 20))
	}
	return nil
}

func (l *Lab) nspawnExited(h *hostState) bool {
	l.mu.Lock()
	ch := l.exited[h.Name]
	l.mu.Unlock()
	if ch == nil {
		return !h.Nspawn.alive()
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// findInit records the container's PID 1: teardown kills it, which ends
// every process of the container at once.
func (l *Lab) findInit(ctx context.Context, h *hostState) error {
	for {
		pid, err := containerInit(h.Nspawn.PID)
		if err == nil {
			p, err := procOf(pid)
			if err == nil {
				return l.record(func() { h.Init = p })
			}
		}
		if l.nspawnExited(h) {
			return fmt.Errorf("systemd-nspawn exited before the container started:\n%s", tail(h.log(), 20))
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("container did not start: %w\n%s", err, tail(h.log(), 20))
		}
	}
}

// waitReady waits until the host's systemd has finished booting, as seen
// over SSH, and then requires that no unit failed.
func (l *Lab) waitReady(ctx context.Context, h *hostState) error {
	var lastErr error
	for {
		if l.nspawnExited(h) {
			return fmt.Errorf("container exited while booting:\n%s", tail(h.log(), 20))
		}
		state, err := l.probe(ctx, h)
		switch {
		case state == "ready":
			return err
		case err == nil:
			lastErr = fmt.Errorf("system state %q", state)
		default:
			lastErr = err
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("not running (%w; last: %v); nspawn log:\n%s", err, lastErr, tail(h.log(), 20))
		}
	}
}

// probe logs in and asks systemctl whether boot has finished; it prints
// the state but exits non-zero on "degraded", so only its output counts.
// Once booted, any failed unit is a lab fault, reported with its journal:
// a host that boots with failures is a broken test bed.
func (l *Lab) probe(ctx context.Context, h *hostState) (string, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := dial(dctx, h, l.signer)
	if err != nil {
		return "", err
	}
	defer c.Close()
	out, err := output(ctx, c, h.Name, "systemctl is-system-running --wait")
	var ee *ExitError
	if err != nil && !errors.As(err, &ee) {
		return "", err
	}
	state := strings.TrimSpace(out)
	if state != "running" && state != "degraded" {
		return state, nil
	}
	return "ready", failedUnits(ctx, c, h.Name)
}

func failedUnits(ctx context.Context, c *ssh.Client, host string) error {
	out, err := output(ctx, c, host, "systemctl list-units --failed --plain --no-legend --no-pager --full")
	if err != nil {
		return err
	}
	var units []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			units = append(units, f[0])
		}
	}
	if len(units) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "units failed at boot: %s (a lab fault: mask them in internal/lab/rootfs.go, or fix the machine's root)", strings.Join(units, ", "))
	for _, u := range units {
		j, _ := output(ctx, c, host, "journalctl --no-pager -n 15 -u "+shellQuote([]string{u}))
		fmt.Fprintf(&b, "\n--- journal of %s:\n%s", u, strings.TrimRight(j, "\n"))
	}
	return errors.New(b.String())
}

// pause waits d, or returns the context's error if it ends first.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// tail returns the last n lines of a file, indented, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
