package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/deptool/deptool/store"
)

// Client drives one agent from the operator's side. Requests run one at a
// time. After a transport error or a cancelled context the stream is out of
// step, so every later request fails; close the session and start anew.
type Client struct {
	mu     sync.Mutex
	conn   *Conn
	broken error
}

// NewClient talks to an agent whose stdout is r and whose stdin is w.
func NewClient(r io.Reader, w io.Writer) *Client {
	return &Client{conn: NewConn(r, w)}
}

// Close stops the client's reading goroutine. It does not close the
// streams given to NewClient.
func (c *Client) Close() { c.conn.Close() }

// begin takes the client for one request.
func (c *Client) begin() (func(), error) {
	c.mu.Lock()
	if c.broken != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("agent connection unusable after an earlier error: %w", c.broken)
	}
	return c.mu.Unlock, nil
}

// fail marks the connection unusable unless err is one the agent sent,
// after which the stream is still in step.
func (c *Client) fail(err error) error {
	var ae *AgentError
	if err != nil && !errors.As(err, &ae) {
		c.broken = err
	}
	return err
}

// recv reads the next message and turns an error message into an error.
func (c *Client) recv(ctx context.Context, doing string) (Message, error) {
	m, err := c.conn.NextMessage(ctx)
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("the agent closed the connection while %s: %w", doing, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return nil, c.fail(err)
	}
	if ae, ok := m.(*AgentError); ok {
		return nil, ae
	}
	return m, nil
}

// call sends req and reads one reply into want.
func call[T Message](ctx context.Context, c *Client, req Message, doing string) (T, error) {
	var zero T
	unlock, err := c.begin()
	if err != nil {
		return zero, err
	}
	defer unlock()
	if err := c.conn.Send(req); err != nil {
		return zero, c.fail(fmt.Errorf("send %s to the agent: %w", req.Type(), err))
	}
	m, err := c.recv(ctx, doing)
	if err != nil {
		return zero, err
	}
	reply, ok := m.(T)
	if !ok {
		return zero, c.fail(protocolErrorf("agent answered %s with %s", req.Type(), m.Type()))
	}
	return reply, nil
}

// Hello opens the session. Empty Version and Build mean this binary's own.
// A reply from another version or build is an error with CodeVersion or
// CodeBuild: the operator must upload its own agent, never guess.
func (c *Client) Hello(ctx context.Context, req HelloRequest) (HelloReply, error) {
	if req.Version == "" {
		req.Version = Version
	}
	if req.Build == "" {
		req.Build = BuildHash()
	}
	reply, err := call[*HelloReply](ctx, c, &req, "saying hello")
	if err != nil {
		return HelloReply{}, err
	}
	if reply.Version != req.Version {
		return *reply, &AgentError{Code: CodeVersion, Message: fmt.Sprintf(
			"the agent speaks version %s, this deptool %s: upload this deptool's agent", reply.Version, req.Version)}
	}
	if req.Build == "" || reply.Build != req.Build {
		return *reply, &AgentError{Code: CodeBuild, Message: fmt.Sprintf(
			"the agent is build %q, this deptool is build %q: refusing to guess; upload this deptool's agent", reply.Build, req.Build)}
	}
	return *reply, nil
}

// Lock takes the host's deploy lock. It fails with CodeBusy (Holder set)
// when another deploy holds it, and CodeStale (Current set) when the host
// is not at req.Base; in both cases nothing changed on the host.
func (c *Client) Lock(ctx context.Context, req LockRequest) error {
	_, err := call[*LockReply](ctx, c, &req, "taking the lock")
	return err
}

// SendObjects streams the Git pack that write produces into the host's
// store. Needs the lock.
func (c *Client) SendObjects(ctx context.Context, write func(io.Writer) error) error {
	_, err := c.SendObjectsFor(ctx, nil, write)
	return err
}

// SendObjectsFor is SendObjects for a pack meant to make the commits in
// want whole on the host; the reply says whether they are.
func (c *Client) SendObjectsFor(ctx context.Context, want []store.ID, write func(io.Writer) error) (ObjectsReply, error) {
	unlock, err := c.begin()
	if err != nil {
		return ObjectsReply{}, err
	}
	defer unlock()
	if err := c.conn.Send(&ObjectsRequest{Want: want}); err != nil {
		return ObjectsReply{}, c.fail(fmt.Errorf("send objects to the agent: %w", err))
	}
	// The agent drains an aborted stream and answers it, so the stream
	// stays in step even when write fails.
	streamErr := c.conn.WriteStream(func(w io.Writer) error {
		return write(ctxWriter{ctx, w})
	})
	if err := c.conn.WriteErr(); err != nil {
		return ObjectsReply{}, c.fail(fmt.Errorf("send objects: %w", err))
	}
	m, err := c.recv(ctx, "storing objects")
	if streamErr != nil {
		return ObjectsReply{}, fmt.Errorf("send objects: %w", streamErr)
	}
	if err != nil {
		return ObjectsReply{}, err
	}
	reply, ok := m.(*ObjectsReply)
	if !ok {
		return ObjectsReply{}, c.fail(protocolErrorf("agent answered objects with %s", m.Type()))
	}
	return *reply, nil
}

// ctxWriter stops a stream whose context has ended.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

// ApplyEvents are what an apply tells the operator before its result; nil
// handlers ignore them.
type ApplyEvents struct {
	Progress func(Progress)
	// AwaitConfirm: every change is made and the host waits for a new
	// connection to confirm it (ApplyRequest.ConfirmTimeout).
	AwaitConfirm func(AwaitConfirm)
}

// Apply applies a host commit and reports progress as it comes. A failed
// apply is a Result with Outcome Failed (see Result.Err); the error is for
// requests the agent refused and for a lost connection.
func (c *Client) Apply(ctx context.Context, req ApplyRequest, on ApplyEvents) (Result, error) {
	unlock, err := c.begin()
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	if err := c.conn.Send(&req); err != nil {
		return Result{}, c.fail(fmt.Errorf("send apply to the agent: %w", err))
	}
	for {
		m, err := c.recv(ctx, "applying")
		if err != nil {
			return Result{}, err
		}
		switch m := m.(type) {
		case *Progress:
			if on.Progress != nil {
				on.Progress(*m)
			}
		case *AwaitConfirm:
			if on.AwaitConfirm != nil {
				on.AwaitConfirm(*m)
			}
		case *Result:
			return *m, nil
		default:
			return Result{}, c.fail(protocolErrorf("agent answered apply with %s", m.Type()))
		}
	}
}

// Fetch writes a Git pack of the host's current commit and everything
// reachable from it to w, and returns that commit (zero, with nothing
// written, for a host never deployed).
func (c *Client) Fetch(ctx context.Context, w io.Writer) (store.ID, error) {
	unlock, err := c.begin()
	if err != nil {
		return store.ZeroID, err
	}
	defer unlock()
	if err := c.conn.Send(&FetchRequest{}); err != nil {
		return store.ZeroID, c.fail(fmt.Errorf("send fetch to the agent: %w", err))
	}
	m, err := c.recv(ctx, "fetching")
	if err != nil {
		return store.ZeroID, err
	}
	reply, ok := m.(*FetchReply)
	if !ok {
		return store.ZeroID, c.fail(protocolErrorf("agent answered fetch with %s", m.Type()))
	}
	stream := c.conn.ReadStream(ctx)
	if _, err := io.Copy(w, stream); err != nil {
		// The stream is in step again if it reached its last frame (an
		// abort from the agent, or w failing and the rest drained).
		if stream.Complete() || stream.Drain() == nil || stream.Aborted() {
			return store.ZeroID, fmt.Errorf("fetch: %w", err)
		}
		return store.ZeroID, c.fail(fmt.Errorf("fetch: %w", err))
	}
	return reply.Current, nil
}

// Ping asks the agent for a pong with the same sequence number.
func (c *Client) Ping(ctx context.Context, seq int) error {
	pong, err := call[*Pong](ctx, c, &Ping{Seq: seq}, "answering ping")
	if err != nil {
		return err
	}
	if pong.Seq != seq {
		return c.fail(protocolErrorf("ping %d answered by pong %d", seq, pong.Seq))
	}
	return nil
}

// Journal returns the host's journal of applies, newest first, at most
// limit entries (0: all). It needs a hello, not the lock.
func (c *Client) Journal(ctx context.Context, limit int) ([]JournalEntry, error) {
	reply, err := c.JournalReply(ctx, limit)
	return reply.Entries, err
}

// JournalReply is Journal with the agent's warnings about lines it skipped.
func (c *Client) JournalReply(ctx context.Context, limit int) (JournalReply, error) {
	reply, err := call[*JournalReply](ctx, c, &JournalRequest{Limit: limit}, "reading the journal")
	if err != nil {
		return JournalReply{}, err
	}
	return *reply, nil
}

// Confirm confirms the apply waiting on the host with token (see
// ApplyRequest.ConfirmTimeout). Send it over a connection of its own: that
// the connection could be made is what it confirms.
func (c *Client) Confirm(ctx context.Context, token string) error {
	_, err := call[*ConfirmReply](ctx, c, &ConfirmRequest{Token: token}, "confirming")
	return err
}

// Bye ends the session: the agent releases the lock and exits. An agent
// that closes the stream instead of answering has done the same.
func (c *Client) Bye(ctx context.Context) error {
	_, err := call[*ByeReply](ctx, c, &Bye{}, "saying bye")
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// Drift asks the agent how the host differs from its current host commit
// and runs every app's health checks. It needs a hello, not the lock.
func (c *Client) Drift(ctx context.Context) (*DriftReply, error) {
	return call[*DriftReply](ctx, c, &DriftRequest{}, "checking the host")
}
