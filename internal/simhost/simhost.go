// Package simhost is a fleet of simulated hosts in one process: each host
// is a temporary root directory served by the real agent (agent.Serve)
// over in-memory pipes, with a simulated systemd (internal/simsystemd).
// A Fleet is a deploy.Dialer, so the operator's whole deploy (rollout,
// locks, sends, applies, confirmations, records) runs without SSH, root or
// systemd, in milliseconds per host.
//
// What it leaves out is what the lab tests prove: SSH and its login, the
// agent's upload and start, systemd over D-Bus, file ownership.
package simhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/deptool/deptool/deploy/agent"
	"github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/internal/simsystemd"
)

// Fleet is a set of simulated hosts. It is safe for concurrent use.
type Fleet struct {
	dir string
	now func() time.Time

	mu     sync.Mutex
	hosts  map[string]*Host
	agents sync.WaitGroup
}

// New is an empty fleet whose hosts live under dir (a short path: a
// host's confirmation socket, dir/NAME/var/lib/deptool/confirm.sock, must
// fit in 108 bytes), with now as the clock
// of their agents and systemd (nil: time.Now).
func New(dir string, now func() time.Time) *Fleet {
	if now == nil {
		now = time.Now
	}
	return &Fleet{dir: dir, now: now, hosts: map[string]*Host{}}
}

// Host is one simulated host.
type Host struct {
	Name    string
	Root    string // the host's "/"
	Systemd *simsystemd.Systemd
	// Agent are the options its agents are served with; a test may change
	// them (Agent.After, to fire the confirmation timer itself) before
	// dialing.
	Agent agent.Options
	// Dial, when set, is called at each dial before the agent starts: a
	// test blocks in it to hold the operator at connecting, or returns an
	// error for an unreachable host.
	Dial func(ctx context.Context) error

	mu       sync.Mutex
	sessions int
}

// Add makes a host named name: a root with /etc/hostname and deptool's
// state directory, as a host is before its first deploy.
func (f *Fleet) Add(name string) (*Host, error) {
	root := filepath.Join(f.dir, name)
	if err := os.MkdirAll(filepath.Join(root, layout.AgentDir), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, "etc/hostname"), []byte(name+"\n"), 0o644); err != nil {
		return nil, err
	}
	sd := simsystemd.New(root, f.now)
	h := &Host{Name: name, Root: root, Systemd: sd, Agent: agent.Options{
		Root: root, Now: f.now,
		Units: func(context.Context) (agent.Units, func(), error) { return sd, func() {}, nil },
	}}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.hosts[name]; ok {
		return nil, fmt.Errorf("simhost: host %s added twice", name)
	}
	f.hosts[name] = h
	return h, nil
}

// Host is the host named name, or nil.
func (f *Fleet) Host(name string) *Host {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hosts[name]
}

// ErrNoHost is a dial to a host the fleet does not have: unreachable.
var ErrNoHost = errors.New("no such simulated host")

// Dial starts an agent for host and returns its stdio: writes go to its
// stdin, reads come from its stdout, and Close is the operator hanging up.
// The agent runs on after that until it ends by itself, as on a host.
func (f *Fleet) Dial(ctx context.Context, host string) (io.ReadWriteCloser, error) {
	h := f.Host(host)
	if h == nil {
		return nil, fmt.Errorf("connect to %s: %w", host, ErrNoHost)
	}
	if h.Dial != nil {
		if err := h.Dial(ctx); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h.mu.Lock()
	h.sessions++
	opts := h.Agent
	h.mu.Unlock()
	f.agents.Add(1)
	go func() {
		defer f.agents.Done()
		err := agent.Serve(context.Background(), inR, outW, opts)
		inR.CloseWithError(io.ErrClosedPipe) // a write after the agent ended fails, as on a closed session
		outW.CloseWithError(eofOr(err))
	}()
	return &stdio{r: outR, w: inW}, nil
}

func eofOr(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// Sessions is how many times the host was dialed.
func (h *Host) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions
}

// Wait waits until every agent the fleet started has ended: those whose
// operator hung up mid-apply finish the apply first.
func (f *Fleet) Wait() { f.agents.Wait() }

// stdio is an agent's stdin and stdout as the operator holds them.
type stdio struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func (s *stdio) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *stdio) Write(p []byte) (int, error) { return s.w.Write(p) }

// Close hangs up: the agent reads EOF, and what it still writes fails, as
// on an SSH session whose client is gone.
func (s *stdio) Close() error {
	s.w.Close()
	s.r.CloseWithError(io.ErrClosedPipe)
	return nil
}
