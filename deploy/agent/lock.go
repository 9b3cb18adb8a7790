package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	hostlayout "github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/store"
	"golang.org/x/sys/unix"
)

// hostLock is the host's deploy lock: a flock held by this process, so the
// kernel releases it when the agent dies, whatever kills it.
type hostLock struct{ f *os.File }

// errBusy carries the current holder, as far as the lock file tells.
type errBusy struct{ holder *wire.Holder }

func (e *errBusy) Error() string { return "lock busy" }

// acquireLock takes the lock without waiting and records holder in the file.
func acquireLock(path string, holder wire.Holder) (*hostLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &errBusy{holder: readHolder(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	l := &hostLock{f: f}
	if err := l.record(holder); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// record writes who holds the lock, for whoever finds it busy.
func (l *hostLock) record(holder wire.Holder) error {
	data, err := json.Marshal(holder)
	if err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("write lock holder: %w", err)
	}
	if _, err := l.f.WriteAt(append(data, '\n'), 0); err != nil {
		return fmt.Errorf("write lock holder: %w", err)
	}
	return nil
}

// readHolder reads the holder a locked file names; nil when it cannot tell
// (the holder may be between taking the lock and writing its name).
func readHolder(path string) *wire.Holder {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var h wire.Holder
	if json.Unmarshal(data, &h) != nil {
		return nil
	}
	return &h
}

// release empties the file, so a free lock names nobody, and unlocks it.
func (l *hostLock) release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Truncate(0)
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// busyError tells the operator who is deploying instead.
func busyError(h *wire.Holder) *wire.AgentError {
	if h == nil {
		return wire.Errorf(wire.CodeBusy, "locked by another deploy (its holder has not written its name yet)")
	}
	e := wire.Errorf(wire.CodeBusy, "locked by %s (agent pid %d) since %s",
		h.Operator, h.PID, h.Since.UTC().Format(time.RFC3339))
	e.Holder = h
	return e
}

// takeLock locks the host for this session and checks the plan was made
// against what the host runs.
func (s *session) takeLock(req *wire.LockRequest) (*wire.LockReply, error) {
	if s.mismatch != nil {
		return nil, s.mismatch
	}
	operator := req.Operator
	if operator == "" {
		operator = s.operator
	}
	if err := checkStateDir(s.l); err != nil {
		return nil, err
	}
	if s.lock == nil {
		holder := wire.Holder{Operator: operator, PID: os.Getpid(), Since: s.opts.Now().UTC()}
		l, err := acquireLock(s.l.lockFile(), holder)
		if busy, ok := err.(*errBusy); ok {
			return nil, busyError(busy.holder)
		}
		if err != nil {
			return nil, err
		}
		s.lock = l
	}
	r, err := s.store.refs()
	if err != nil {
		return nil, err
	}
	if r.current != req.Base {
		// Nothing changed: the operator fetches and plans again.
		s.lock.release()
		s.lock = nil
		return nil, staleError(req.Base, r.current)
	}
	return &wire.LockReply{}, nil
}

func staleError(base, current store.ID) *wire.AgentError {
	at := "was never deployed"
	if !current.IsZero() {
		at = "is at " + short(current)
	}
	assumed := "a host never deployed"
	if !base.IsZero() {
		assumed = short(base)
	}
	e := wire.Errorf(wire.CodeStale, "the host %s, but the plan was made against %s", at, assumed)
	e.Current = current
	return e
}

// checkStateDir creates deptool's directory 0755 (root's alone to change)
// or makes sure the one there is: a directory, not a symlink, owned by the
// agent's user and writable by nobody else. Everything the agent runs as
// root comes from there (its own binary, the checkouts units point at), so
// one another user can write is a way to root, refused with what to do.
func checkStateDir(l layout) error {
	dir := l.host(hostlayout.StateDir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(dir), bare(err))
	}
	if err := os.Mkdir(dir, 0o755); err == nil || !errors.Is(err, fs.ErrExist) {
		if err != nil {
			return fmt.Errorf("create %s: %w", dir, bare(err))
		}
		return nil
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return bare(err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symlink: deptool keeps its state only in a directory of its own; replace it with a directory (mode 0755, owned by root)", hostlayout.StateDir)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory: move it away", hostlayout.StateDir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by other users (%s): they could replace what deptool runs as root; check what is in it, then chmod 755 it", hostlayout.StateDir, fi.Mode())
	}
	if uid, _ := owner(fi); uid != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not by the agent's user (uid %d): check what is in it, then chown it", hostlayout.StateDir, uid, os.Geteuid())
	}
	return nil
}
