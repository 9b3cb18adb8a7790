package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/deptool/deptool/deploy/secret"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// Options configure an agent.
type Options struct {
	// Root is where host paths are resolved: "/" on a host, a temp dir in
	// tests. Every path the agent touches lies under it.
	Root string
	// Build is the build this agent reports in hello; empty means
	// wire.BuildHash(). Tests set it to play an agent of another build.
	Build string
	// Now is the clock for journal lines, lock holders and checkout ages;
	// nil means time.Now.
	Now func() time.Time
	// Keep is how many checkouts per app garbage collection keeps besides
	// current and previous; 0 means 5.
	Keep int
	// Units connects to systemd; nil means the system bus at root "/"
	// and none elsewhere. Tests set a recorder or a simulated systemd.
	Units OpenUnits
	// After is the confirmation's timer; nil means time.After. Tests with
	// an injected clock fire it themselves.
	After func(time.Duration) <-chan time.Time

	// executable names the running agent binary, which binary garbage
	// collection never removes; nil means os.Executable.
	executable func() (string, error)
	// loginUser is the user the operator logs in as, whose authorized
	// keys may sign deploys; "" means sudo's caller or the agent's user.
	loginUser string
	// fault, when set, is asked before each effect of an apply is made
	// and fails the apply with its error: tests use it to stop an apply
	// at any point.
	fault func(Effect) error
	// idle is how long the agent waits for the operator (IdleTimeout when
	// zero); idleNow and idleAfter are its clock and timer (time.Now and
	// time.After when nil), apart from Now, which tests step per call.
	idle      time.Duration
	idleNow   func() time.Time
	idleAfter func(time.Duration) <-chan time.Time
}

func (o Options) withDefaults() Options {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Build == "" {
		o.Build = wire.BuildHash()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Keep <= 0 {
		o.Keep = 5
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.idle <= 0 {
		o.idle = IdleTimeout
	}
	if o.idleAfter == nil {
		o.idleAfter = time.After
	}
	if o.idleNow == nil {
		o.idleNow = time.Now
	}
	if o.executable == nil {
		o.executable = os.Executable
	}
	if o.Units == nil {
		o.Units = noUnits(o.Root)
		if o.Root == "/" {
			o.Units = openBus
		}
	}
	return o
}

// Main runs the agent of `deptool agent`: on stdin and stdout, at root "/".
//
// The operator may vanish mid-apply. Its SSH connection dropping sends
// SIGHUP and turns writes to stdout into EPIPE; both would kill a Go
// program by default, and an apply must finish instead. Nothing else may
// write to stdout either, so os.Stdout is pointed at stderr for the stray
// print.
func Main(ctx context.Context) error {
	signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP)
	out := os.Stdout
	os.Stdout = os.Stderr
	return Serve(ctx, os.Stdin, out, Options{Root: "/"})
}

// Serve answers the operator's requests from in on out until bye, the end
// of in, ctx ending between requests, or the operator going silent for
// the idle timeout (an *IdleError) while the agent waits for it. An apply
// in progress always finishes first. The lock, if taken, is released on
// return.
func Serve(ctx context.Context, in io.Reader, out io.Writer, opts Options) error {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := newIdleWatch(opts.idle, opts.idleNow, opts.idleAfter, cancel)
	go idle.run()
	defer idle.close()
	ob := newOutbox(out, opts.idle, opts.idleAfter)
	defer ob.close()
	s := newSession(activityReader{in, idle}, ob, opts)
	s.idle = idle
	defer s.close()
	for {
		m, err := s.conn.NextMessage(ctx)
		if ie := idleCause(ctx); err != nil && ie != nil {
			return ie
		}
		if errors.Is(err, io.EOF) {
			return nil // the operator hung up; nothing is half done
		}
		var unknown *wire.UnknownTypeError
		if errors.As(err, &unknown) {
			s.conn.Send(wire.Errorf(wire.CodeUnsupported, "this agent (version %s) does not know %q requests", wire.Version, unknown.Type))
			continue
		}
		if err != nil {
			var pe *wire.ProtocolError
			if errors.As(err, &pe) {
				s.conn.Send(wire.Errorf(wire.CodeBadRequest, "%v", err))
			}
			return err
		}
		if done, err := s.handleTimed(ctx, m, idle); done || err != nil {
			if ie := idleCause(ctx); err != nil && ie != nil {
				return ie
			}
			return err
		}
	}
}

// session is one operator's conversation with the agent.
type session struct {
	opts     Options
	l        layout
	conn     *wire.Conn
	store    hostStore
	host     string // the hello's host, once /etc/hostname agreed
	operator string
	mismatch *wire.AgentError // the hello came from another build
	lock     *hostLock
	holder   wire.Holder // what the lock file says while this session holds it
	idle     *idleWatch  // nil in sessions without one
	turnDone func()      // restarts the idle clock stopped by streamed
	// redact knows every secret plaintext this session decrypted or read
	// from a checkout; every message it sends passes through it.
	redact *secret.Redactor
}

// doing records in the lock file what this session's apply does now, so
// that a deploy that finds the host busy can say what it waits for, and
// confirm an apply whose operator is gone.
func (s *session) doing(doing string, deploy store.ID, until time.Time, token string) {
	s.holder.Doing, s.holder.Deploy, s.holder.Until = doing, deploy, until
	s.lock.write(lockRecord{Holder: s.holder, Token: token})
}

func newSession(in io.Reader, out io.Writer, opts Options) *session {
	l := layout{root: opts.Root}
	s := &session{opts: opts, l: l, conn: wire.NewConn(in, out), store: hostStore{l: l}, redact: secret.NewRedactor()}
	s.conn.Filter(s.redact.JSON)
	return s
}

func (s *session) close() {
	s.lock.release()
	s.conn.Close()
}

// idleCause is the *IdleError that ended ctx, if that is what ended it.
func idleCause(ctx context.Context) error {
	var ie *IdleError
	if errors.As(context.Cause(ctx), &ie) {
		return ie
	}
	return nil
}

// handleTimed is handle with the idle clock stopped while the agent works
// on its own. Sending objects is the operator's work, so it stays running
// there and every byte received restarts it.
func (s *session) handleTimed(ctx context.Context, m wire.Message, idle *idleWatch) (bool, error) {
	if _, ok := m.(*wire.ObjectsRequest); !ok {
		defer idle.working()()
	} else {
		defer s.endTurn()
	}
	return s.handle(ctx, m)
}

// streamed wraps the objects stream so that the clock stops once its
// end arrives: storing and indexing the pack is the agent's work, however
// long it takes.
func (s *session) streamed(r io.Reader) io.Reader {
	if s.idle == nil {
		return r
	}
	return turnReader{r, s}
}

type turnReader struct {
	r io.Reader
	s *session
}

func (t turnReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && t.s.turnDone == nil {
		t.s.turnDone = t.s.idle.working()
	}
	return n, err
}

// endTurn restarts the clock stopped by streamed.
func (s *session) endTurn() {
	if s.turnDone != nil {
		s.turnDone()
		s.turnDone = nil
	}
}

// handle answers one request. done ends the session.
func (s *session) handle(ctx context.Context, m wire.Message) (done bool, err error) {
	switch m := m.(type) {
	case *wire.HelloRequest:
		return false, s.reply(s.hello(m))
	case *wire.Ping:
		return false, s.conn.Send(&wire.Pong{Seq: m.Seq}) // harmless before hello
	case *wire.Bye:
		s.lock.release()
		s.lock = nil
		s.conn.Send(&wire.ByeReply{})
		return true, nil
	}
	if s.host == "" {
		return false, s.refuseRequest(ctx, m, wire.Errorf(wire.CodeBadRequest, "%s before hello: the operator must say hello first", m.Type()))
	}
	switch m := m.(type) {
	case *wire.LockRequest:
		return false, s.reply(s.takeLock(m))
	case *wire.ObjectsRequest:
		return false, s.objects(ctx, m)
	case *wire.ApplyRequest:
		return false, s.apply(m)
	case *wire.FetchRequest:
		return false, s.fetch()
	case *wire.JournalRequest:
		return false, s.reply(s.journal(m))
	case *wire.ConfirmRequest:
		return false, s.reply(s.confirm(ctx, m))
	case *wire.DriftRequest:
		return false, s.reply(s.drift(ctx))
	}
	return false, s.conn.Send(wire.Errorf(wire.CodeBadRequest, "the agent does not take %s messages", m.Type()))
}

// refuseRequest answers a request with err, first draining the byte stream
// an objects request is followed by, so the stream stays in step.
func (s *session) refuseRequest(ctx context.Context, m wire.Message, err *wire.AgentError) error {
	if _, ok := m.(*wire.ObjectsRequest); ok {
		if derr := s.conn.ReadStream(ctx).Drain(); derr != nil && !isAgentError(derr) {
			return derr
		}
	}
	return s.conn.Send(err)
}

func isAgentError(err error) bool {
	var ae *wire.AgentError
	return errors.As(err, &ae)
}

// reply sends a reply or the error that replaces it.
func (s *session) reply(m wire.Message, err error) error {
	if err != nil {
		return s.conn.Send(asAgentError(err))
	}
	return s.conn.Send(m)
}

func asAgentError(err error) *wire.AgentError {
	var ae *wire.AgentError
	if errors.As(err, &ae) {
		return ae
	}
	return wire.Errorf(wire.CodeInternal, "%v", err)
}

// mayChange refuses requests that change the host unless this session's
// hello matched this build and it holds the lock.
func (s *session) mayChange() *wire.AgentError {
	if s.mismatch != nil {
		return s.mismatch
	}
	if s.lock == nil {
		return wire.Errorf(wire.CodeNotLocked, "take the lock before changing anything")
	}
	return nil
}

func short(id fmt.Stringer) string { return id.String()[:12] }
