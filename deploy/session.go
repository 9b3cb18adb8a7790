package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

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
		return nil, err
	}
	err = d.startAgent(ctx, sess, bin)
	var missing *agentMissing
	if errors.As(err, &missing) {
		err = d.install(ctx, sess, missing.uname)
	}
	if err != nil {
		sess.close()
		return nil, err
	}
	return sess, nil
}

// agentMissing is a host without this build's agent; uname is the host's
// `uname -sm`, which says which build it needs.
type agentMissing struct{ uname string }

func (*agentMissing) Error() string { return "agent not installed" }

// startAgent starts an installed agent. Where there is none, the same
// command reports the host's platform, so a first contact needs no round
// trip of its own to ask.
func (d *deployer) startAgent(ctx context.Context, sess *session, bin *agentBinary) error {
	path := bin.remotePath()
	cmd := fmt.Sprintf(`[ -x %s ] || { uname -sm >&2; exit %d; }; exec %s agent`, path, exitAgentMissing, path)
	proc, err := sess.conn.Start(ctx, cmd)
	if err != nil {
		return fmt.Errorf("start agent: %w", err)
	}
	return d.hello(ctx, sess, proc, bin)
}

// install uploads the agent for the host's platform and starts it in the
// same session.
func (d *deployer) install(ctx context.Context, sess *session, uname string) error {
	d.opts.Reporter.Phase(sess.host, Uploading, "")
	platform, err := platformOf(uname)
	if err != nil {
		return err
	}
	bin, err := d.bins.forPlatform(platform)
	if err != nil {
		return err
	}
	proc, err := sess.conn.UploadAndStart(ctx, bin.remotePath(), bin.blob, 0o755, "exec "+bin.remotePath()+" agent")
	if err == nil {
		err = d.hello(ctx, sess, proc, bin)
	}
	if exit := (*transport.ExitError)(nil); errors.As(err, &exit) {
		return &reachedError{err}
	}
	return err
}

// reachedError is a first contact that failed on the host after logging
// in: the upload script exited (a full disk, a read-only /var/lib). The
// host is reachable, and saying otherwise sends the operator to look at
// the network.
type reachedError struct{ err error }

func (e *reachedError) Error() string { return e.err.Error() }
func (e *reachedError) Unwrap() error { return e.err }

// hello opens the protocol with an agent just started. When the command
// ended instead, its exit says why better than the broken protocol does.
func (d *deployer) hello(ctx context.Context, sess *session, proc *transport.Process, bin *agentBinary) error {
	client := wire.NewClient(proc.Stdout, proc.Stdin)
	hello, err := client.Hello(ctx, wire.HelloRequest{
		Version: wire.Version, Build: bin.build, Host: sess.host, Operator: d.opts.Operator,
	})
	if err != nil {
		proc.Close()
		var agentErr *wire.AgentError
		if errors.As(err, &agentErr) {
			return fmt.Errorf("agent: %w", err)
		}
		exit := proc.Wait()
		if code, ok := exitCode(exit); ok {
			if code == exitAgentMissing {
				return &agentMissing{uname: lastLine(proc.Stderr())}
			}
			return exit
		}
		return fmt.Errorf("agent: %w", err)
	}
	sess.proc, sess.client, sess.hello, sess.bin = proc, client, hello, bin
	return nil
}

// lastLine is the last line of s: what a command printed last, after
// anything a login script wrote before it.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
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
// newer than the hello said if another deploy landed in between. A host
// with no deptool state at all (its /var/lib/deptool wiped) sends no pack:
// the store forgets its ref, so the next plan deploys it as a new host.
func fetchInto(ctx context.Context, s *store.Store, sess *session) (store.ID, error) {
	pr, pw := io.Pipe()
	done := make(chan store.ID, 1)
	go func() {
		current, err := sess.client.Fetch(ctx, pw)
		done <- current
		pw.CloseWithError(err)
	}()
	br := bufio.NewReader(pr)
	if _, err := br.Peek(1); err == io.EOF {
		if current := <-done; current.IsZero() {
			return current, s.ForgetHost(sess.host)
		}
		return store.ZeroID, fmt.Errorf("host %s sent an empty pack for its current commit", sess.host)
	}
	if err := s.ReadPack(br); err != nil {
		pr.CloseWithError(err)
		return store.ZeroID, err
	}
	current := <-done
	if current.IsZero() {
		return current, nil
	}
	return current, s.SetHostRef(sess.host, current)
}
