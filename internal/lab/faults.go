package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Fault injection: what tests do to one host to see how deptool copes. Each
// fault acts on the machine side (the host's veth, cgroup, processes, mount
// namespace), so it works whatever state the host's own sshd or systemd is
// in, and the lab's teardown undoes all of them.

// labRange is every address the lab can hand out (see addrs).
const labRange = "198.18.0.0/15"

// ensureUnreachable keeps an unreachable route for the lab's whole range. A
// host whose link goes down loses its connected /30 route, and its address
// would then be routed out through the default gateway: lab packets would
// leave the machine. The /30 routes of hosts that are up are more specific
// and still win. The route is shared by every lab on the machine and never
// removed: another lab may be up, and it costs nothing.
func ensureUnreachable(ctx context.Context) error {
	show := func() (string, error) {
		out, err := exec.CommandContext(ctx, "ip", "-o", "route", "show", "exact", labRange).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("ip route show exact %s: %v: %s", labRange, err, bytes.TrimSpace(out))
		}
		return strings.TrimSpace(string(out)), nil
	}
	for range 2 {
		have, err := show()
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		if strings.HasPrefix(have, "unreachable ") {
			return nil
		}
		if have != "" {
			return fmt.Errorf("lab: %s is routed on this machine (%s): the lab needs it unreachable so that its traffic never leaves the machine; remove that route", labRange, have)
		}
		// Another lab may add it at the same moment: then add fails and
		// the second look finds it.
		if run(ctx, "ip", "route", "add", "unreachable", labRange) == nil {
			return nil
		}
	}
	return fmt.Errorf("lab: could not add 'ip route add unreachable %s'", labRange)
}

// faultHost takes the state directory's lock (so faults, up and down of one
// lab never interleave), reloads the state another process may have changed,
// and returns the named host. The caller must close the lock.
func (l *Lab) faultHost(name string) (*os.File, *hostState, error) {
	lock, err := flock(filepath.Join(l.dir, lockFile))
	if err != nil {
		return nil, nil, fmt.Errorf("lab: lock %s: %w", l.dir, err)
	}
	st, err := readState(l.dir)
	if err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	if st == nil || st.ID != l.st.ID {
		lock.Close()
		return nil, nil, fmt.Errorf("lab: the lab in %s is gone (torn down by 'down'?)", l.dir)
	}
	l.mu.Lock()
	l.st = st
	h := st.host(name)
	l.mu.Unlock()
	if h == nil {
		lock.Close()
		return nil, nil, fmt.Errorf("lab: no host %s in %s (hosts: %s)", name, l.dir, strings.Join(l.Names(), ", "))
	}
	return lock, h, nil
}

// Cut takes the host's link down (the machine side of its veth): packets
// to it fail at once with EHOSTUNREACH (the unreachable route), packets
// from it go nowhere, and open connections hang until they time out.
// Restore undoes it.
func (l *Lab) Cut(name string) error {
	return l.setLink(name, "down")
}

// Restore brings a cut host's link back up; its /30 route returns with it.
func (l *Lab) Restore(name string) error {
	return l.setLink(name, "up")
}

func (l *Lab) setLink(name, state string) error {
	lock, h, err := l.faultHost(name)
	if err != nil {
		return err
	}
	defer lock.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Labs started before the route was kept lack it; a cut must never
	// send the host's traffic to the default gateway.
	if err := ensureUnreachable(ctx); err != nil {
		return err
	}
	if err := run(ctx, "ip", "link", "set", h.Veth, state); err != nil {
		return fmt.Errorf("lab: host %s: %w", name, err)
	}
	return nil
}

// Freeze stops every process of the host where it stands (the cgroup v2
// freezer of its cgroup): TCP connections to it are still accepted by the
// kernel, but nothing answers, as with a host that hangs. Thaw undoes it.
func (l *Lab) Freeze(name string) error { return l.setFrozen(name, true) }

// Thaw lets a frozen host run on.
func (l *Lab) Thaw(name string) error { return l.setFrozen(name, false) }

func (l *Lab) setFrozen(name string, frozen bool) error {
	lock, h, err := l.faultHost(name)
	if err != nil {
		return err
	}
	defer lock.Close()
	if h.Stopped {
		return fmt.Errorf("lab: host %s is stopped: start it with 'deptool-lab start --state %s %s'", name, l.dir, name)
	}
	if err := freeze(h, frozen, time.Now().Add(stopTimeout)); err != nil {
		return fmt.Errorf("lab: host %s: %w", name, err)
	}
	return nil
}

// freeze writes cgroup.freeze of the host's cgroup v2 (on a hybrid machine
// the unified one: every process of the host is there too) and waits until
// the kernel reports the whole subtree frozen or thawed.
func freeze(h *hostState, frozen bool, deadline time.Time) error {
	cg := freezableCgroup(h)
	if cg == "" {
		return fmt.Errorf("no cgroup v2 freezer among its cgroups %v: freezing needs cgroup v2 (a unified or hybrid hierarchy; this machine has neither)", h.Cgroups)
	}
	want := "0"
	if frozen {
		want = "1"
	}
	if err := os.WriteFile(filepath.Join(cg, "cgroup.freeze"), []byte(want), 0); err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(cg, "cgroup.events"))
		if err != nil {
			return fmt.Errorf("freeze: %w", err)
		}
		if strings.Contains("\n"+string(b), "\nfrozen "+want+"\n") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("freeze: %s still says %q after %v", filepath.Join(cg, "cgroup.events"), strings.TrimSpace(string(b)), stopTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func freezableCgroup(h *hostState) string {
	for _, cg := range h.Cgroups {
		if _, err := os.Stat(filepath.Join(cg, "cgroup.freeze")); err == nil {
			return cg
		}
	}
	return ""
}

// Stop ends every process of the host at once, as a power cut would; its
// root, keys, address and network stay, so Start boots the same host
// again. A stopped host refuses connections.
func (l *Lab) Stop(name string) error {
	lock, h, err := l.faultHost(name)
	if err != nil {
		return err
	}
	defer lock.Close()
	if h.Stopped {
		return nil
	}
	if err := l.record(func() { h.Stopped = true }); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := l.stop(h); err != nil {
		return fmt.Errorf("lab: host %s: stop: %w", name, err)
	}
	if err := l.record(func() { h.Nspawn, h.Init = proc{}, proc{} }); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// Start boots a stopped host again from the same root (what it wrote before
// Stop is still there), with the same host key and address, and returns
// once it runs with no failed unit, as Up does. Starting a running host
// does nothing.
func (l *Lab) Start(ctx context.Context, name string) error {
	lock, h, err := l.faultHost(name)
	if err != nil {
		return err
	}
	defer lock.Close()
	if !h.Stopped {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultBootTimeout)
	defer cancel()
	if err := l.restart(ctx, h); err != nil {
		// Back to a clean stop, so that Start can be tried again.
		l.stop(h)
		l.record(func() { h.Nspawn, h.Init = proc{}, proc{} })
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("lab: host %s: did not boot again within %v: %w", name, DefaultBootTimeout, err)
		}
		return fmt.Errorf("lab: host %s: start: %w", name, err)
	}
	return nil
}

func (l *Lab) restart(ctx context.Context, h *hostState) error {
	// The old container's systemd left its cgroups behind (empty): start
	// from fresh ones, as the first boot did.
	deadline := time.Now().Add(stopTimeout)
	for _, cg := range h.Cgroups {
		if err := removeCgroup(cg, deadline); err != nil {
			return err
		}
		if err := os.Mkdir(cg, 0o755); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
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
	return l.record(func() { h.Stopped = false })
}

// limitSource names the tmpfs LimitDisk mounts, so UnlimitDisk removes
// only its own.
const limitSource = "deptool-lab-limit"

var sizeRE = regexp.MustCompile(`^[1-9][0-9]*[kmg]?$`)

// LimitDisk puts a tmpfs of the given size (as tmpfs takes it: "512k",
// "1m") over path inside the host, with path's current contents copied in,
// so writing past the size fails with ENOSPC. Processes that already have
// files open below path keep using the old ones. UnlimitDisk undoes it;
// so does Stop (the limit lives in the host's mount namespace).
func (l *Lab) LimitDisk(name, path, size string) error {
	if !sizeRE.MatchString(size) {
		return fmt.Errorf("lab: disk limit %q: give a size in bytes, or with k, m or g (e.g. 1m)", size)
	}
	const script = `set -e
p=$1
if [ "$(findmnt -n -o SOURCE --mountpoint "$p" | tail -n 1)" = ` + limitSource + ` ]; then
	echo "limited already: undo it first (unlimit-disk)" >&2; exit 1
fi
mkdir -p "$p"
t=$(mktemp -d /run/deptool-lab-limit.XXXXXX)
trap 'rm -rf "$t"' EXIT
cp -a "$p/." "$t/"
mount -t tmpfs -o size="$2" ` + limitSource + ` "$p"
chmod --reference="$t" "$p"; chown --reference="$t" "$p"
if ! cp -a "$t/." "$p/"; then
	umount "$p"
	echo "its contents do not fit in $2" >&2; exit 1
fi`
	return l.inMountNS(name, path, script, size)
}

// UnlimitDisk removes the tmpfs LimitDisk put over path, keeping what was
// written to it: the files move back to the host's root, so the host sees
// the same tree with room again.
func (l *Lab) UnlimitDisk(name, path string) error {
	const script = `set -e
p=$1
if [ "$(findmnt -n -o SOURCE --mountpoint "$p" | tail -n 1)" != ` + limitSource + ` ]; then
	echo "no disk limit from deptool-lab here" >&2; exit 1
fi
t=$(mktemp -d /run/deptool-lab-limit.XXXXXX)
trap 'rm -rf "$t"' EXIT
cp -a "$p/." "$t/"
umount "$p"
find "$p" -mindepth 1 -delete
cp -a "$t/." "$p/"`
	return l.inMountNS(name, path, script)
}

// inMountNS runs a shell script, with path and args as $1, $2, ..., in the
// host's mount namespace and root, entered from the machine (so it works
// on a host whose sshd is down or cut), and in its PID namespace, so that
// the /proc/self findmnt reads is there.
func (l *Lab) inMountNS(name, p, script string, args ...string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return fmt.Errorf("lab: disk limit: path %q must be absolute, clean and not /", p)
	}
	l.mu.Lock()
	h := l.st.host(name)
	l.mu.Unlock()
	if h == nil {
		return fmt.Errorf("lab: no host %s in %s (hosts: %s)", name, l.dir, strings.Join(l.Names(), ", "))
	}
	if h.Stopped || !h.Init.alive() {
		return fmt.Errorf("lab: host %s is not running", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{"--target", fmt.Sprint(h.Init.PID), "--mount", "--pid", "--root", "--wd", "/bin/sh", "-c", script, "sh", p}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", argv...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("lab: host %s: %s: %s", name, p, msg)
	}
	return nil
}

// thawForKill makes sure a frozen host can die: a cgroup v2 freezer lets
// SIGKILL through, but thawing first also covers processes the freezer
// caught mid-exit, and costs nothing on a host that is not frozen.
func thawForKill(h *hostState) {
	cg := freezableCgroup(h)
	if cg == "" {
		return
	}
	if b, err := os.ReadFile(filepath.Join(cg, "cgroup.freeze")); err == nil && strings.TrimSpace(string(b)) == "1" {
		os.WriteFile(filepath.Join(cg, "cgroup.freeze"), []byte("0"), 0)
	}
}
