package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckNames(t *testing.T) {
	for _, ok := range [][]string{{"web1"}, {"a"}, {"db-1", "x9"}, {strings.Repeat("a", 32)}} {
		if err := checkNames(ok); err != nil {
			t.Errorf("checkNames(%q) = %v", ok, err)
		}
	}
	for _, bad := range [][]string{nil, {""}, {"Web1"}, {"-a"}, {"a-"}, {"a_b"}, {"a.b"}, {strings.Repeat("a", 33)}, {"web1", "web1"}} {
		if err := checkNames(bad); err == nil {
			t.Errorf("checkNames(%q) = nil, want an error", bad)
		}
	}
}

func TestAddrs(t *testing.T) {
	for i, want := range map[int][2]string{
		1:   {"198.18.1.1", "198.18.1.2"},
		255: {"198.18.255.1", "198.18.255.2"},
		256: {"198.19.1.1", "198.19.1.2"},
		510: {"198.19.255.1", "198.19.255.2"},
	} {
		m, h := addrs(i)
		if m.String() != want[0] || h.String() != want[1] {
			t.Errorf("addrs(%d) = %v, %v; want %v", i, m, h, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"printf", "%s", "a b", "it's", "", "x=1"})
	want := `printf %s 'a b' 'it'\''s' '' x=1`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}

func TestPreflightNamesTheCause(t *testing.T) {
	saved := geteuid
	defer func() { geteuid = saved }()
	geteuid = func() int { return 1000 }
	if err := Preflight(); err == nil || !strings.Contains(err.Error(), "must run as root") {
		t.Errorf("as non-root: %v", err)
	}
	geteuid = func() int { return 0 }
	t.Setenv("PATH", t.TempDir())
	if err := Preflight(); err == nil || !strings.Contains(err.Error(), "systemd-nspawn not found: run 'just lab-deps'") {
		t.Errorf("without nspawn: %v", err)
	}
}

// requireLab skips (or, with DEPTOOL_REQUIRE_LAB=1, fails) when this
// machine cannot run a lab.
func requireLab(t *testing.T) {
	t.Helper()
	if err := Preflight(); err != nil {
		unavailable(t, err)
	}
}

func TestDownLeavesNothing(t *testing.T) {
	t.Parallel()
	requireLab(t)
	dir := filepath.Join(t.TempDir(), "lab")
	l, err := Up(context.Background(), Options{StateDir: dir}, "web1", "web2", "db1")
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(l)
	for _, h := range before.Hosts {
		if !h.Init.alive() || !isMountPoint(h.root()) || !linkExists(h.Veth) {
			t.Fatalf("host %s not fully up: %+v", h.Name, h)
		}
	}
	start := time.Now()
	if err := Down(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("down of 3 hosts: %v", time.Since(start))
	assertNoTrace(t, before)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state directory %s still exists: %v", dir, err)
	}
	if err := Down(context.Background(), dir); err != nil {
		t.Errorf("second down: %v", err)
	}
}

func TestTwoLabsWithTheSameNamesRunSideBySide(t *testing.T) {
	t.Parallel()
	requireLab(t)
	labs := make([]*Lab, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range labs {
		wg.Go(func() {
			dir := filepath.Join(t.TempDir(), "lab")
			labs[i], errs[i] = Up(context.Background(), Options{StateDir: dir}, "web1")
		})
	}
	wg.Wait()
	for i, l := range labs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { l.Down(context.Background()) })
	}
	if labs[0].Addr("web1") == labs[1].Addr("web1") {
		t.Fatalf("both labs got address %s", labs[0].Addr("web1"))
	}
	var ids []string
	for _, l := range labs {
		host, err := l.Exec("web1", "hostname")
		if err != nil || strings.TrimSpace(host) != "web1" {
			t.Errorf("hostname in %s: %q, %v", l.StateDir(), host, err)
		}
		id, err := l.Exec("web1", "cat", "/etc/machine-id")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[0] == ids[1] {
		t.Errorf("both hosts have machine ID %s", ids[0])
	}
}

func TestNameInUse(t *testing.T) {
	t.Parallel()
	requireLab(t)
	dir := filepath.Join(t.TempDir(), "lab")
	l, err := Up(context.Background(), Options{StateDir: dir}, "web1")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Down(context.Background())
	_, err = Up(context.Background(), Options{StateDir: dir}, "db1", "web1")
	if err == nil || !strings.Contains(err.Error(), "host name web1 is already in use in "+dir) {
		t.Fatalf("err = %v", err)
	}
	if _, err := l.Exec("web1", "true"); err != nil {
		t.Errorf("the running lab was disturbed: %v", err)
	}
}

func TestStaleStateDir(t *testing.T) {
	t.Parallel()
	requireLab(t)
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	st := &labState{Version: stateVersion, ID: newID(), BootID: bootID(), Work: filepath.Join(t.TempDir(), "work"),
		Hosts: []*hostState{{Name: "web1", Ready: true, Init: proc{PID: dead.Process.Pid, Start: 1}}}}
	if err := writeState(dir, st); err != nil {
		t.Fatal(err)
	}
	_, err := Up(context.Background(), Options{StateDir: dir}, "web2")
	if err == nil || !strings.Contains(err.Error(), "stale state directory") || !strings.Contains(err.Error(), "deptool-lab down --state "+dir) {
		t.Fatalf("err = %v", err)
	}
	if err := Down(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); !os.IsNotExist(err) {
		t.Errorf("state file left after down: %v", err)
	}
}

func TestBootTimeoutTearsDown(t *testing.T) {
	t.Parallel()
	requireLab(t)
	dir := filepath.Join(t.TempDir(), "lab")
	var work string
	var mu sync.Mutex
	opts := Options{StateDir: dir, BootTimeout: 300 * time.Millisecond, prepare: func(root string) error {
		mu.Lock()
		work = filepath.Dir(filepath.Dir(root))
		mu.Unlock()
		return nil
	}}
	_, err := Up(context.Background(), opts, "slow1", "slow2")
	if err == nil || !strings.Contains(err.Error(), "did not boot within 300ms") {
		t.Fatalf("err = %v", err)
	}
	assertNoTraceOf(t, strings.TrimPrefix(filepath.Base(work), "deptool-lab-"))
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state directory %s still exists: %v", dir, err)
	}
}

func TestFailedUnitIsALabFault(t *testing.T) {
	t.Parallel()
	requireLab(t)
	dir := filepath.Join(t.TempDir(), "lab")
	var work string
	opts := Options{StateDir: dir, prepare: func(root string) error {
		work = filepath.Dir(filepath.Dir(root))
		unit := "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo planted failure; exit 3'\n"
		etc := filepath.Join(root, "etc/systemd/system")
		if err := os.WriteFile(filepath.Join(etc, "labfail.service"), []byte(unit), 0o644); err != nil {
			return err
		}
		return os.Symlink("../labfail.service", filepath.Join(etc, "multi-user.target.wants/labfail.service"))
	}}
	_, err := Up(context.Background(), opts, "bad1")
	if err == nil {
		t.Fatal("Up succeeded with a failing unit")
	}
	t.Log(err)
	for _, want := range []string{"host bad1", "units failed at boot: labfail.service", "planted failure"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	assertNoTraceOf(t, strings.TrimPrefix(filepath.Base(work), "deptool-lab-"))
}

func snapshot(l *Lab) labState {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := *l.st
	st.Hosts = nil
	for _, h := range l.st.Hosts {
		c := *h
		st.Hosts = append(st.Hosts, &c)
	}
	return st
}

// assertNoTrace checks each recorded resource, then searches the machine
// for anything else carrying the lab's ID.
func assertNoTrace(t *testing.T, st labState) {
	t.Helper()
	for _, h := range st.Hosts {
		if h.Init.alive() || h.Nspawn.alive() {
			t.Errorf("host %s: process left: init %d, nspawn %d", h.Name, h.Init.PID, h.Nspawn.PID)
		}
		// Indexes are machine-wide and freed by Down, so a parallel test's
		// lab may already have taken this one and made a veth of the same
		// name; it reserves the index before it makes the veth, so reading
		// the slot after seeing the veth tells whose it is.
		if linkExists(h.Veth) && !heldByOtherLab(h.Index, st.ID) {
			t.Errorf("host %s: veth %s left", h.Name, h.Veth)
		}
		if _, err := os.Stat(slotPath(h.Index)); err == nil {
			var s slot
			if readJSON(slotPath(h.Index), &s) == nil && s.Lab == st.ID {
				t.Errorf("host %s: index %d still held", h.Name, h.Index)
			}
		}
	}
	assertNoTraceOf(t, st.ID)
}

func assertNoTraceOf(t *testing.T, id string) {
	t.Helper()
	if id == "" {
		t.Fatal("no lab ID to check")
	}
	tag := "lab-" + id
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), tag) {
		t.Errorf("network namespace left:\n%s", out)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), tag) {
		t.Errorf("mount left: %s", grepLines(string(b), tag))
	}
	roots, _ := cgroupRoots()
	for _, r := range roots {
		if m, _ := filepath.Glob(filepath.Join(r, "deptool-"+tag+"-*")); len(m) > 0 {
			t.Errorf("cgroups left: %v", m)
		}
	}
	// A process killed with its cgroup can still be exiting, its cgroup
	// already "(deleted)", until its parent reaps it: on a loaded machine
	// that takes a moment, so the check waits for it, within a deadline.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var left []string
		procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
		for _, p := range procs {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), tag) {
				left = append(left, p+": "+grepLines(string(b), tag))
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, l := range left {
				t.Errorf("process left: %s", l)
			}
			break
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, with a deadline
	}
	if _, err := os.Stat(filepath.Join("/dev/shm", "deptool-"+tag)); !os.IsNotExist(err) {
		t.Errorf("work directory /dev/shm/deptool-%s left", tag)
	}
	slots, _ := filepath.Glob(filepath.Join(RunDir, "slots", "*"))
	for _, p := range slots {
		var s slot
		if readJSON(p, &s) == nil && s.Lab == id {
			t.Errorf("index slot %s still held", p)
		}
	}
}

// heldByOtherLab reports whether index i is now reserved by a lab other
// than id.
func heldByOtherLab(i int, id string) bool {
	var s slot
	return readJSON(slotPath(i), &s) == nil && s.Lab != id
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Teardown copes with hosts left in any fault: frozen, stopped, cut, with
// a disk limit; and a lab with a stopped host is not stale (it may grow).
func TestDownAfterFaults(t *testing.T) {
	t.Parallel()
	requireLab(t)
	dir := filepath.Join(t.TempDir(), "lab")
	ctx := context.Background()
	l, err := Up(ctx, Options{StateDir: dir}, "frozen", "stopped")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{l.Freeze("frozen"), l.Cut("frozen"), l.LimitDisk("frozen", "/var/tmp", "1m"), l.Stop("stopped")} {
		if err != nil {
			l.Down(ctx)
			t.Fatal(err)
		}
	}
	if err := l.Freeze("stopped"); err == nil || !strings.Contains(err.Error(), "is stopped") {
		t.Errorf("Freeze of a stopped host: %v", err)
	}
	if _, err := Up(ctx, Options{StateDir: dir}, "more"); err != nil {
		t.Errorf("up into a lab with a stopped host: %v", err)
	}
	st, _ := readState(dir)
	if err := Down(ctx, dir); err != nil {
		t.Fatal(err)
	}
	assertNoTrace(t, *st)
}
