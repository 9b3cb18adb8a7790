package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// deployLockFile is held by the one deptool process that deploys, rolls
// back or syncs from this store, from its plan to its last record. It is a
// flock, so it dies with its process, however that ends.
const deployLockFile = "deptool.lock"

// Holder says who holds a store's deploy lock.
type Holder struct {
	PID      int       `json:"pid"`
	Operator string    `json:"operator"`
	Command  string    `json:"command"`
	Since    time.Time `json:"since"`
}

// BusyError is returned by Lock when another process holds the lock.
type BusyError struct {
	Path   string
	Holder *Holder // nil when the holder has not written its name yet
}

func (e *BusyError) Error() string {
	who, what := "another deptool process", "another deploy from this store is running"
	if h := e.Holder; h != nil {
		who = fmt.Sprintf("%q (pid %d, %s, since %s)", h.Command, h.PID, h.Operator, h.Since.UTC().Format("2006-01-02 15:04:05 UTC"))
		if f := strings.Fields(h.Command); len(f) > 1 && !slices.Contains([]string{"deploy", "rollback", "sync"}, f[1]) {
			// diff, status, log and pin hold it only while they
			// exchange records with the store's remote.
			what = "another deptool command is exchanging records with the remote"
		}
	}
	return fmt.Sprintf("%s: %s holds %s; nothing was done: wait for it to finish, then run this again", what, who, e.Path)
}

// ErrBusy is what a BusyError is.
var ErrBusy = errors.New("store busy")

func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// DeployLock is a held deploy lock.
type DeployLock struct{ f *os.File }

// Lock takes the store's deploy lock for command (the command line, for
// whoever finds it taken). It never waits: a plan made while another deploy
// runs would be stale the moment that deploy records its outcomes, so the
// second deploy is refused and names the first. An in-memory store has no
// lock.
func (s *Store) Lock(command, operator string, now time.Time) (*DeployLock, error) {
	if s.path == "" {
		return &DeployLock{}, nil
	}
	path := filepath.Join(s.path, deployLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	for try := 0; ; try++ {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("store: lock %s: %w", path, err)
		}
		// The holder writes its name just after it takes the lock; a
		// moment later the name is there, or the lock is free.
		h := readHolder(f)
		if h != nil || try == holderTries {
			f.Close()
			return nil, &BusyError{Path: path, Holder: h}
		}
		time.Sleep(holderPause)
	}
	h, _ := json.Marshal(Holder{PID: os.Getpid(), Operator: operator, Command: command, Since: now})
	// The name is written after the flock is held, so a process that finds
	// the lock taken may read it half written: readHolder then says less.
	if err := f.Truncate(0); err == nil {
		f.WriteAt(append(h, '\n'), 0)
	}
	return &DeployLock{f: f}, nil
}

// A holder's name is looked for holderTries times holderPause before the
// error says only "another deptool process".
const (
	holderTries = 20
	holderPause = 10 * time.Millisecond
)

func readHolder(f *os.File) *Holder {
	data := make([]byte, 4096)
	n, _ := f.ReadAt(data, 0)
	var h Holder
	if json.Unmarshal([]byte(strings.TrimSpace(string(data[:n]))), &h) != nil || h.PID == 0 {
		return nil
	}
	return &h
}

// Unlock releases the lock.
func (l *DeployLock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Truncate(0)
	l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
}
