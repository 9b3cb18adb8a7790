package agent

import (
	"fmt"
	"os"
	"strings"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// hello checks the agent is on the host the operator means and reports
// where the host stands.
func (s *session) hello(req *wire.HelloRequest) (*wire.HelloReply, error) {
	name, err := s.hostname()
	if err != nil {
		return nil, wire.Errorf(wire.CodeHostname, "host %s: %v: refusing to work without knowing which machine this is", req.Host, err)
	}
	if name != req.Host {
		return nil, wire.Errorf(wire.CodeHostname, "host %s: /etc/hostname says %s: is ssh config pointing at the wrong machine?", req.Host, name)
	}
	r, err := s.store.refs()
	if err != nil {
		return nil, err
	}
	s.host, s.operator, s.mismatch = req.Host, req.Operator, nil
	if req.Version != wire.Version || req.Build != s.opts.Build {
		// The client refuses the reply; this guards against one that
		// does not look.
		s.mismatch = wire.Errorf(wire.CodeBuild, "host %s: agent is version %s build %q, the operator version %s build %q: upload the operator's agent",
			req.Host, wire.Version, s.opts.Build, req.Version, req.Build)
	}
	return &wire.HelloReply{
		Version: wire.Version, Build: s.opts.Build, Hostname: name,
		Current: r.current, Target: r.target,
	}, nil
}

func (s *session) hostname() (string, error) {
	data, err := os.ReadFile(s.l.hostname())
	if err != nil {
		return "", fmt.Errorf("read /etc/hostname: %w", bare(err))
	}
	name := strings.TrimSpace(string(data))
	if name == "" {
		return "", fmt.Errorf("/etc/hostname is empty")
	}
	return name, nil
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
	if s.lock == nil {
		holder := wire.Holder{Operator: operator, PID: os.Getpid(), Since: s.opts.Now().UTC()}
		l, err := takeLock(s.l.lockFile(), holder)
		if busy, ok := err.(*errBusy); ok {
			return nil, busyError(s.host, busy.holder)
		}
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", s.host, err)
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
		return nil, staleError(s.host, req.Base, r.current)
	}
	return &wire.LockReply{}, nil
}

func staleError(host string, base, current store.ID) *wire.AgentError {
	at := "was never deployed"
	if !current.IsZero() {
		at = "is at " + short(current)
	}
	assumed := "a host never deployed"
	if !base.IsZero() {
		assumed = short(base)
	}
	e := wire.Errorf(wire.CodeStale, "host %s %s, but the plan was made against %s: it was deployed from another store since", host, at, assumed)
	e.Current = current
	return e
}
