package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// proc identifies a process across time: a PID alone may be reused by an
// unrelated process after ours died, so teardown only signals a PID whose
// start time (in clock ticks since boot) still matches what was recorded.
type proc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// procOf reads the identity of a running process.
func procOf(pid int) (proc, error) {
	start, state, err := readStat(pid)
	if err != nil {
		return proc{}, err
	}
	if state == 'Z' {
		return proc{}, fmt.Errorf("process %d has exited", pid)
	}
	return proc{PID: pid, Start: start}, nil
}

// alive reports whether the recorded process still runs (zombies count as
// gone: they hold no resources but their PID).
func (p proc) alive() bool {
	if p.PID <= 0 {
		return false
	}
	start, state, err := readStat(p.PID)
	return err == nil && start == p.Start && state != 'Z'
}

// kill sends SIGKILL, but only to the very process that was recorded.
func (p proc) kill() error {
	if !p.alive() {
		return nil
	}
	err := syscall.Kill(p.PID, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// readStat returns the start time and state letter from /proc/PID/stat.
func readStat(pid int) (start uint64, state byte, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name may contain spaces and parentheses; the fields
	// after the last ')' are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: starttime: %w", pid, err)
	}
	return start, f[0][0], nil
}

// containerInit returns the container's PID 1 among nspawn's children.
// While nspawn sets up, its child is an intermediate process that is not
// yet in the container's PID namespace; only a child that is PID 1 in its
// own namespace is the container's init.
func containerInit(nspawn int) (int, error) {
	c, err := childOf(nspawn)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 && f[len(f)-1] == "1" {
				return c, nil
			}
		}
	}
	return 0, errNoChild
}

// childOf returns the first child of pid.
func childOf(pid int) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				return c, nil
			}
		}
	}
	return 0, errNoChild
}

var errNoChild = errors.New("no child process yet")

// bootID changes with every boot of the machine; state recorded under
// another boot ID describes resources that no longer exist.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
