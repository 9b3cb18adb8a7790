package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Every host gets its own cgroup before nspawn starts. Without it all
// containers share nspawn's default payload cgroup: their systemd instances
// race on the same cgroups (units fail with 219/CGROUP), and stopping a
// unit in one host kills it in all of them.
//
// Which hierarchies to use depends on the machine:
//   - hybrid (systemd's v1 name=systemd tree plus cgroup2 at .../unified):
//     both, as systemd inside the container uses both;
//   - unified (cgroup2 mounted at /sys/fs/cgroup): that one;
//   - legacy (v1 only): the name=systemd tree.
const cgroupFS = "/sys/fs/cgroup"

func cgroupRoots() ([]string, error) {
	if isFS(cgroupFS, unix.CGROUP2_SUPER_MAGIC) {
		return []string{cgroupFS}, nil
	}
	var roots []string
	if p := filepath.Join(cgroupFS, "systemd"); isFS(p, unix.CGROUP_SUPER_MAGIC) {
		roots = append(roots, p)
	}
	if p := filepath.Join(cgroupFS, "unified"); isFS(p, unix.CGROUP2_SUPER_MAGIC) {
		roots = append(roots, p)
	}
	if len(roots) == 0 {
		return nil, errors.New("no cgroup hierarchy for systemd found under /sys/fs/cgroup (neither cgroup2 nor a name=systemd hierarchy is mounted)")
	}
	return roots, nil
}

func isFS(path string, magic int64) bool {
	var s unix.Statfs_t
	return unix.Statfs(path, &s) == nil && int64(s.Type) == magic
}

// cgroupEmpty reports whether no process is left anywhere below path.
func cgroupEmpty(path string) bool {
	empty := true
	walkCgroup(path, func(dir string) {
		if pids, _ := cgroupProcs(dir); len(pids) > 0 {
			empty = false
		}
	})
	return empty
}

// killCgroup kills whatever is left in a cgroup the lab created. Only the
// lab's own processes can be there: nspawn and the container it spawned.
// It is the backstop for a crash between starting nspawn and recording the
// container's PID.
func killCgroup(path string) {
	if err := os.WriteFile(filepath.Join(path, "cgroup.kill"), []byte("1"), 0); err == nil {
		return
	}
	walkCgroup(path, func(dir string) {
		pids, _ := cgroupProcs(dir)
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

func cgroupProcs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// walkCgroup calls fn on every cgroup below and including path, children
// before parents, which is the order rmdir needs.
func walkCgroup(path string, fn func(dir string)) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			walkCgroup(filepath.Join(path, e.Name()), fn)
		}
	}
	fn(path)
}

// removeCgroup removes path and everything below it. The kernel refuses
// rmdir (EBUSY) for a short while after the last process of a cgroup has
// exited, so it retries until the deadline.
func removeCgroup(path string, deadline time.Time) error {
	for {
		var last error
		walkCgroup(path, func(dir string) {
			if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
				last = err
			}
		})
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %v", path, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
