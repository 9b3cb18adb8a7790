package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// started is about when this process started: a temp file older than it,
// that no process holds open, is left over from a write that failed.
var started = time.Now()

// cleanTemp removes the temp files of object and pack writes that did not
// finish (tmp_obj_*, tmp_pack_* in objects/pack), last changed before
// cutoff and open in no process. go-git leaves them behind when a write
// fails, on a full disk above all, where each later command then failed
// with ENOSPC and left one more. Another deptool may be writing into the
// same store right now without this process's lock: the file it writes is
// open in it, which is what the /proc scan asks.
//
// After a failed write of its own (ours), the files this process holds
// open count as not held: object writes take objMu, so a temp file open
// here is the failed write's, which go-git may leave open until a
// finalizer closes it.
func (s *Store) cleanTemp(cutoff time.Time, ours bool) {
	if s.path == "" {
		return
	}
	dir := s.packDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var stale []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "tmp_obj_") && !strings.HasPrefix(name, "tmp_pack_") {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !info.ModTime().Before(cutoff) {
			continue
		}
		stale = append(stale, filepath.Join(dir, name))
	}
	if len(stale) == 0 {
		return
	}
	held := openFiles(ours)
	for _, p := range stale {
		if abs, err := filepath.Abs(p); err == nil && !held[abs] {
			os.Remove(p)
		}
	}
}

// openFiles are the paths open in any process this one can see, this
// one left out when notSelf.
func openFiles(notSelf bool) map[string]bool {
	held := map[string]bool{}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd")
	self := fmt.Sprintf("/proc/%d/fd", os.Getpid())
	for _, fd := range procs {
		if notSelf && fd == self {
			continue
		}
		links, err := os.ReadDir(fd)
		if err != nil {
			continue
		}
		for _, l := range links {
			if target, err := os.Readlink(filepath.Join(fd, l.Name())); err == nil {
				held[target] = true
			}
		}
	}
	return held
}
