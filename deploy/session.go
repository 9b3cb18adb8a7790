package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// exitAgentMissing is what the start command exits with when this build's
// agent is not on the host yet; any other failure is a real error.
const exitAgentMissing = 97

// session is a connection to one host's agent.
type session struct {
	host   string
	conn   *transport.Conn
	proc   *transport.Process
	client *wire.Client
	hello  wire.HelloReply
	bin    *agentBinary // the agent running there
	freed  int64        // bytes the host's garbage collection freed
	checks []wire.CheckReport
}

func (s *session) close() {
	if s.proc != nil {
		s.proc.Close()
	}
	s.conn.Close()
}

// connect dials host, starts this build's agent there (uploading it on
// first contact) and exchanges hellos.
func (d *deployer) connect(ctx context.Context, host string) (*session, error) {
	d.opts.Reporter.Phase(host, Connecting, "")
	conn, err := transport.Dial(ctx, host, d.opts.Transport)
	if err != nil {
		return nil, err
	}
	sess := &session{host: host, conn: conn}
	bin, err := d.bins.forPlatform(localPlatform)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("host %s: %w", host, err)
	}
	err = d.startAgent(ctx, sess, bin)
	if errors.Is(err, errAgentMissing) {
		if bin, err = d.upload(ctx, sess); err == nil {
			err = d.startAgent(ctx, sess, bin)
		}
	}
	if err != nil {
		sess.close()
		return nil, err
	}
	return sess, nil
}

var errAgentMissing = errors.New("agent not installed")

func (d *deployer) startAgent(ctx context.Context, sess *session, bin *agentBinary) error {
	path := bin.remotePath(wire.Version)
	cmd := fmt.Sprintf(`[ -x %s ] || exit %d; exec %s agent`, path, exitAgentMissing, path)
	proc, err := sess.conn.Start(ctx, cmd)
	if err != nil {
		return fmt.Errorf("host %s: start agent: %w", sess.host, err)
	}
	client := wire.NewClient(proc.Stdout, proc.Stdin)
	hello, err := client.Hello(ctx, wire.HelloRequest{
		Version: wire.Version, Build: bin.build, Host: sess.host, Operator: d.opts.Operator,
	})
	if err != nil {
		proc.Close()
		if code, ok := exitCode(proc.Wait()); ok && code == exitAgentMissing {
			return errAgentMissing
		}
		return fmt.Errorf("host %s: agent: %w", sess.host, err)
	}
	sess.proc, sess.client, sess.hello, sess.bin = proc, client, hello, bin
	return nil
}

// upload installs the agent for the host's platform.
func (d *deployer) upload(ctx context.Context, sess *session) (*agentBinary, error) {
	d.opts.Reporter.Phase(sess.host, Uploading, "")
	uname, err := sess.conn.Run(ctx, "uname -sm", nil)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", sess.host, err)
	}
	platform, err := platformOf(string(uname))
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", sess.host, err)
	}
	bin, err := d.bins.forPlatform(platform)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", sess.host, err)
	}
	if err := sess.conn.Upload(ctx, bin.remotePath(wire.Version), bin.data, 0o755); err != nil {
		return nil, fmt.Errorf("host %s: upload agent: %w", sess.host, err)
	}
	return bin, nil
}

func exitCode(err error) (int, bool) {
	var exit *transport.ExitError
	if errors.As(err, &exit) {
		return exit.Status, true
	}
	return 0, false
}

// fetchInto copies the host's current commit and its objects into the
// store and points the host's ref at the commit the pack holds, which may be
// newer than the hello said if another deploy landed in between.
func fetchInto(ctx context.Context, s *store.Store, sess *session) (store.ID, error) {
	pr, pw := io.Pipe()
	var current store.ID
	go func() {
		var err error
		current, err = sess.client.Fetch(ctx, pw)
		pw.CloseWithError(err)
	}()
	if err := s.ReadPack(pr); err != nil {
		pr.CloseWithError(err)
		return store.ZeroID, err
	}
	if current.IsZero() {
		return current, nil
	}
	return current, s.SetHostRef(sess.host, current)
}
