package agent

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	hostlayout "github.com/deptool/deptool/diff/layout"
)

// The confirmation is a dead-man switch: after an apply the agent keeps
// the host's lock and waits for the operator to reach the host again over
// a new SSH connection. The apply itself may have broken that path (sshd's
// config, a firewall, the network), and then nobody could undo it from
// outside, so the host undoes it by itself when no confirmation arrives in
// time.
//
// The wait opens as soon as every change is made, before the units settle
// and the health checks run, which only watch: the new connection is made
// while they do, and costs nothing with a settle window. The apply counts
// only once it is confirmed and its units and checks passed.
//
// The waiting agent listens on a Unix socket in deptool's state directory
// (root only); the agent of the new connection passes the token on. The
// token ties the confirmation to this apply, not to any that came before.

// NotConfirmedError is why an apply was rolled back when no confirmation
// came.
type NotConfirmedError struct{ Timeout time.Duration }

func (e *NotConfirmedError) Error() string {
	return fmt.Sprintf("not confirmed: no new SSH connection reached the host within %s of the apply, so the host undid it by itself", e.Timeout)
}

func (l layout) confirmSocket() string { return l.host(hostlayout.ConfirmSocket) }

// confirmation is an apply's open wait for confirmation.
type confirmation struct {
	ln      net.Listener
	timeout time.Duration
	timer   <-chan time.Time

	mu        sync.Mutex
	confirmed bool
	over      bool          // decided: no confirmation counts any more
	arrived   chan struct{} // closed when confirmed
}

// confirmStep is an apply's wait for confirmation: opened once every
// change is made, awaited once the units settled and the checks passed,
// closed whatever the outcome.
type confirmStep struct {
	l layout
	// timeout is how long the wait lasts; zero for an apply without a
	// timeout or without rollback (the timer would have nothing to do),
	// which needs none.
	timeout time.Duration
	now     func() time.Time
	after   func(time.Duration) <-chan time.Time
	say     func(wire.Progress)
	// doing records in the lock file what the apply does now.
	doing func(doing string, until time.Time, token string)
	// await tells the operator the apply waits for confirmation.
	await func(wire.AwaitConfirm)
	c     *confirmation // the open wait, if any
}

// open starts the wait for confirmation and tells the operator the token.
func (w *confirmStep) open() error {
	timeout := w.timeout
	if timeout <= 0 || w.c != nil {
		return nil
	}
	token, err := newToken()
	if err != nil {
		return fmt.Errorf("wait for confirmation: %w", err)
	}
	path := w.l.confirmSocket()
	// A socket left by an agent that died waiting; the lock says nobody
	// else is waiting now.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("wait for confirmation: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("wait for confirmation: %w", err)
	}
	c := &confirmation{ln: ln, timeout: timeout, timer: w.after(timeout), arrived: make(chan struct{})}
	go c.accept(token)
	w.c = c
	deadline := w.now().Add(timeout).UTC()
	w.doing(wire.AwaitingConfirmation, deadline, token)
	w.await(wire.AwaitConfirm{Token: token, Deadline: deadline})
	return nil
}

// wait returns nil once the apply is confirmed, at once if it already is,
// or a *NotConfirmedError when the timeout runs out first.
func (w *confirmStep) wait() error {
	c := w.c
	if c == nil {
		return nil
	}
	defer w.close()
	w.say(wire.Progress{Step: "confirm wait"})
	select {
	case <-c.arrived:
		return nil
	case <-c.timer:
	}
	if c.decide() {
		return nil // arrived as the timer fired
	}
	return &NotConfirmedError{Timeout: c.timeout}
}

// close ends the wait, whatever the apply's outcome: a confirmation that
// comes later is told it is too late.
func (w *confirmStep) close() {
	if w.c == nil {
		return
	}
	w.c.decide()
	w.c.ln.Close() // also removes the socket file
	w.c = nil
	w.doing(wire.Applying, time.Time{}, "")
}

// decide closes the wait and reports whether the apply was confirmed.
func (c *confirmation) decide() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.over = true
	return c.confirmed
}

// take records a confirmation, unless the wait is over.
func (c *confirmation) take() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over {
		return false
	}
	if !c.confirmed {
		c.confirmed = true
		close(c.arrived)
	}
	return true
}

// accept answers connections until the listener closes: "ok" for the
// token while the wait is open, and why not otherwise.
func (c *confirmation) accept(token string) {
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return // closed: the wait is over
		}
		switch {
		case !readsToken(conn, token):
			fmt.Fprintln(conn, "wrong token")
		case c.take():
			fmt.Fprintln(conn, "ok")
		default:
			fmt.Fprintln(conn, "too late: the apply is being rolled back")
		}
		conn.Close()
	}
}

func readsToken(c net.Conn, token string) bool {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return false
	}
	got := strings.TrimSpace(line)
	return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// confirm passes a confirmation from this session's operator to the apply
// waiting for it.
func (s *session) confirm(ctx context.Context, req *wire.ConfirmRequest) (wire.Message, error) {
	nothing := wire.Errorf(wire.CodeBadRequest, "no apply is waiting for confirmation: it may have timed out and rolled back")
	token := req.Token
	if token == "" {
		// Whichever apply waits: this session's own connection is the
		// proof it waits for.
		rec := readRecord(s.l.lockFile())
		if rec == nil || rec.Token == "" {
			return nil, nothing
		}
		token = rec.Token
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", s.l.confirmSocket())
	if err != nil {
		return nil, nothing
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(c, token); err != nil {
		return nil, nothing
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	switch {
	case err != nil:
		return nil, nothing
	case strings.TrimSpace(answer) != "ok":
		return nil, wire.Errorf(wire.CodeBadRequest, "the waiting apply refused the confirmation: %s", strings.TrimSpace(answer))
	}
	return &wire.ConfirmReply{}, nil
}
