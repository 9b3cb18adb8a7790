package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/deploy/wire"
	hostlayout "github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/store"
)

// exitAgentMissing is what the start command exits with when this build's
// agent is not on the host yet; any other failure is a real error.
const exitAgentMissing = 97

// exitUnsafeDir is what the start command exits with when deptool's
// directories on the host are not root's alone; its stderr says which.
const exitUnsafeDir = 98

// safeDirs refuses to run an agent from directories another user could
// have written: what it runs as root would be theirs. The agent checks its
// state directory again, but by then it has run.
func safeDirs() string {
	dirs := hostlayout.StateDir + " " + hostlayout.AgentDir
	return fmt.Sprintf(`for d in %s; do if [ -L "$d" ] || { [ -d "$d" ] && [ -n "$(find "$d" -maxdepth 0 \( ! -user 0 -o -perm /022 \))" ]; }; then echo "$d is a symlink, not owned by root, or writable by other users: deptool does not run its agent from there; check what is in it, then chown root and chmod 755 it" >&2; exit %d; fi; done`, dirs, exitUnsafeDir)
}

// Dialer reaches hosts in place of SSH: Dial connects to host and starts
// this build's agent there, and returns the agent's stdin (writes) and
// stdout (reads); Close hangs up. The deployer speaks the protocol over
// it from hello on, for every connection: the deploy's and the
// confirmation's.
//
// Production leaves Options.Dialer nil: the deployer dials SSH, starts the
// agent with a shell command and uploads it on first contact, which tells
// it more about a failed start than a stream can (exit statuses, stderr).
// Tests and simulated fleets serve agents in process (internal/simhost).
type Dialer interface {
	Dial(ctx context.Context, host string) (io.ReadWriteCloser, error)
}

// session is a connection to one host's agent.
type session struct {
	host   string
	conn   *transport.Conn
	proc   *transport.Process
	stdio  io.Closer // a Dialer's agent, in place of conn and proc
	client *wire.Client
	hello  wire.HelloReply
	bin    *agentBinary // the agent running there
	// confirming marks the session that confirms an apply: an interrupt
	// that starts no new host must not end it, or the host it follows
	// rolls back for want of the confirmation.
	confirming bool
}

func (s *session) close() {
	if s.proc != nil {
		s.proc.Close()
	}
	if s.conn != nil {
		s.conn.Close()
	}
	if s.stdio != nil {
		s.stdio.Close()
	}
}

// ConnectOptions say how to reach hosts and who reaches them: all that a
// command which only talks to hosts (check, ping, log --remote, sync)
// needs, and the part of a deploy's Options that reaches its hosts.
type ConnectOptions struct {
	// Parallel bounds how many hosts are worked on at once (default
	// DefaultParallel).
	Parallel int
	// Transport configures SSH; its zero value reads the environment.
	Transport transport.Options
	// Dialer, when set, reaches the hosts instead of SSH (see Dialer).
	Dialer Dialer
	// Operator is user@hostname, recorded on hosts; default store.Operator().
	Operator string
	// Now is the clock of what is recorded (host commits, notes); default
	// time.Now.
	Now func() time.Time
	// HelloTimeout bounds the wait for a started agent's hello; zero means
	// HelloTimeout.
	HelloTimeout time.Duration
}

func (o ConnectOptions) helloTimeout() time.Duration {
	if o.HelloTimeout > 0 {
		return o.HelloTimeout
	}
	return HelloTimeout
}

func (o *ConnectOptions) defaults() {
	if o.Parallel < 1 {
		o.Parallel = DefaultParallel
	}
	if o.Operator == "" {
		o.Operator = store.Operator()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// connector opens sessions with hosts' agents, and holds nothing else: no
// store, no plan. Commands that only read from hosts (check, ping, log
// --remote) use it alone; a deploy and a sync reach their hosts through
// it.
type connector struct {
	opts ConnectOptions
	// reporter hears of connecting and uploading; stop, once closed,
	// ends hellos still waited for (see Options.Stop).
	reporter Reporter
	stop     <-chan struct{}
	bins     binaries
}

// newConnector is a connector reporting nothing and never stopped.
func newConnector(opts ConnectOptions) *connector {
	opts.defaults()
	return &connector{opts: opts, reporter: noReporter{}}
}

// stopped reports whether the command was told to start no new host.
func (d *connector) stopped() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

// connect dials host, starts this build's agent there (uploading it on
// first contact) and exchanges hellos.
func (d *connector) connect(ctx context.Context, host string) (*session, error) {
	d.reporter.Phase(host, Connecting, "")
	if d.opts.Dialer != nil {
		return d.dial(ctx, host, dialedBinary(), false)
	}
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

// dialedBinary is the agent a Dialer starts: this very build, which the
// deployer never uploads, so reads no executable for.
func dialedBinary() *agentBinary {
	return &agentBinary{platform: localPlatform, build: wire.BuildHash()}
}

// dial reaches host through Options.Dialer and exchanges hellos, as
// connect and hello do over SSH; the interrupts and deadlines of the
// hello are the same.
func (d *connector) dial(ctx context.Context, host string, bin *agentBinary, confirming bool) (*session, error) {
	stdio, err := d.opts.Dialer.Dial(ctx, host)
	if err != nil {
		return nil, err
	}
	sess := &session{host: host, stdio: stdio, confirming: confirming}
	client := wire.NewClient(stdio, stdio)
	hctx, cancel := context.WithTimeout(ctx, d.opts.helloTimeout())
	defer cancel()
	if !confirming {
		defer d.onStop(cancel)()
	}
	hello, err := client.Hello(hctx, wire.HelloRequest{
		Version: wire.Version, Build: bin.build, Host: sess.host, Operator: d.opts.Operator,
	})
	if err != nil {
		sess.close()
		var agentErr *wire.AgentError
		if !errors.As(err, &agentErr) && (interrupted(ctx) || (!confirming && d.stopped())) {
			return nil, errInterrupted
		}
		return nil, fmt.Errorf("agent: %w", err)
	}
	sess.client, sess.hello, sess.bin = client, hello, bin
	return sess, nil
}

// onStop calls f once the deploy is told to start no new host (Options.Stop);
// the returned function stops watching.
func (d *connector) onStop(f func()) (unwatch func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-d.stop:
			f()
		case <-done:
		}
	}()
	return func() { close(done) }
}

// agentMissing is a host without this build's agent; uname is the host's
// `uname -sm`, which says which build it needs.
type agentMissing struct{ uname string }

func (*agentMissing) Error() string { return "agent not installed" }

// startAgent starts an installed agent. Where there is none, the same
// command reports the host's platform, so a first contact needs no round
// trip of its own to ask.
func (d *connector) startAgent(ctx context.Context, sess *session, bin *agentBinary) error {
	path := bin.remotePath()
	cmd := fmt.Sprintf(`%s; [ -x %s ] || { uname -sm >&2; exit %d; }; exec %s agent`, safeDirs(), path, exitAgentMissing, path)
	proc, err := sess.conn.Start(ctx, cmd)
	if err != nil {
		return fmt.Errorf("start agent: %w", err)
	}
	return d.hello(ctx, sess, proc, bin)
}

// install uploads the agent for the host's platform and starts it in the
// same session.
func (d *connector) install(ctx context.Context, sess *session, uname string) error {
	d.reporter.Phase(sess.host, Uploading, "")
	platform, err := platformOf(uname)
	if err != nil {
		return err
	}
	bin, err := d.bins.forPlatform(platform)
	if err != nil {
		return err
	}
	proc, err := sess.conn.UploadAndStart(ctx, bin.remotePath(), bin.blob, 0o755, safeDirs()+"; exec "+bin.remotePath()+" agent")
	if err == nil {
		err = d.hello(ctx, sess, proc, bin)
	}
	if exit := (*transport.ExitError)(nil); errors.As(err, &exit) {
		// A cgo build needs the glibc it was linked against: one made on
		// Debian 12 does not start on Debian 11.
		if msg := err.Error(); strings.Contains(msg, "GLIBC_") && strings.Contains(msg, "not found") {
			err = fmt.Errorf("%w\nthis deptool is linked against a newer glibc than the host has: build it static (CGO_ENABLED=0, as 'just build' does)", err)
		}
		return &reachedError{err}
	}
	return err
}

// HelloTimeout bounds the wait for the agent's hello once its command
// started (after the upload, on first contact). A working agent answers in
// milliseconds; a login under load, through sudo, a few seconds. A login
// that runs something else (a forced command in authorized_keys, a shell
// waiting for input) never answers, and without a bound the operator
// would wait for as long as that command runs.
const HelloTimeout = 20 * time.Second

// exitWait is how long a hello that failed waits for the command's exit
// status, which says why better than the broken protocol: a command that
// ended has sent it already, one that did not may never.
const exitWait = 2 * time.Second

// reachedError is a first contact that failed on the host after logging
// in: the upload script exited (a full disk, a read-only /var/lib). The
// host is reachable, and saying otherwise sends the operator to look at
// the network.
type reachedError struct{ err error }

func (e *reachedError) Error() string { return e.err.Error() }
func (e *reachedError) Unwrap() error { return e.err }

// hello opens the protocol with an agent just started. When the command
// ended instead, its exit says why better than the broken protocol does.
func (d *connector) hello(ctx context.Context, sess *session, proc *transport.Process, bin *agentBinary) error {
	client := wire.NewClient(proc.Stdout, proc.Stdin)
	hctx, cancel := context.WithTimeout(ctx, d.opts.helloTimeout())
	defer cancel()
	// Nothing has changed on the host yet: an interrupt that starts no new
	// host ends this wait at once rather than after the deadline. Not so
	// for a confirmation: the host it confirms has applied already.
	if !sess.confirming {
		defer d.onStop(cancel)()
	}
	hello, err := client.Hello(hctx, wire.HelloRequest{
		Version: wire.Version, Build: bin.build, Host: sess.host, Operator: d.opts.Operator,
	})
	if err != nil {
		proc.Close()
		var agentErr *wire.AgentError
		if errors.As(err, &agentErr) {
			return fmt.Errorf("agent: %w", err)
		}
		if interrupted(ctx) || (!sess.confirming && d.stopped()) {
			return errInterrupted
		}
		if hctx.Err() != nil {
			return fmt.Errorf("no answer from deptool's agent within %s of starting it: the login runs something else (a forced command in authorized_keys, a shell waiting for input?); check that 'ssh %s true' returns at once%s",
				d.opts.helloTimeout(), sess.host, stderrNote(proc.Stderr()))
		}
		exit := waitExit(proc, exitWait)
		if code, ok := exitCode(exit); ok {
			if code == exitAgentMissing {
				return &agentMissing{uname: lastLine(proc.Stderr())}
			}
			if code == exitUnsafeDir {
				return &reachedError{errors.New(lastLine(proc.Stderr()))}
			}
			return exit
		}
		return fmt.Errorf("agent: %w", err)
	}
	sess.proc, sess.client, sess.hello, sess.bin = proc, client, hello, bin
	return nil
}

// waitExit is proc.Wait bounded by d; nil when the command is still
// running by then (its session is closed, it is left to end on its own).
func waitExit(proc *transport.Process, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- proc.Wait() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return nil
	}
}

func stderrNote(stderr string) string {
	if stderr == "" {
		return ""
	}
	return "; it wrote: " + lastLine(stderr)
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
		return store.ZeroID, errors.New("the host sent an empty pack for its current commit")
	}
	if err := s.ReadPack(br); err != nil {
		pr.CloseWithError(err)
		return store.ZeroID, err
	}
	current := <-done
	if current.IsZero() {
		return current, nil
	}
	return current, s.SetHostRefFromHost(sess.host, current)
}

// hostReader is a command that reads from hosts (check, sync) and records
// what they say of this store's earlier deploys.
type hostReader struct {
	*connector
	*recorder
}
