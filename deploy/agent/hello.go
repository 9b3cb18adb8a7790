package agent

import (
	"fmt"
	"os"
	"strings"

	"github.com/deptool/deptool/deploy/wire"
)

// hello checks the agent is on the host the operator means and reports
// where the host stands.
func (s *session) hello(req *wire.HelloRequest) (*wire.HelloReply, error) {
	name, err := s.hostname()
	if err != nil {
		return nil, wire.Errorf(wire.CodeHostname, "%v: refusing to work without knowing which machine this is", err)
	}
	if name != req.Host {
		return nil, wire.Errorf(wire.CodeHostname, "/etc/hostname says %s: is ssh config pointing at the wrong machine?", name)
	}
	r, err := s.store.refs()
	if err != nil {
		return nil, err
	}
	s.host, s.operator, s.mismatch = req.Host, req.Operator, nil
	if req.Version != wire.Version || req.Build != s.opts.Build {
		// The client refuses the reply; this guards against one that
		// does not look.
		s.mismatch = wire.Errorf(wire.CodeBuild, "the agent is version %s build %q, the operator version %s build %q: upload the operator's agent",
			wire.Version, s.opts.Build, req.Version, req.Build)
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
