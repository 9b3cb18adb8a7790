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
	"time"

	"github.com/deptool/deptool/deploy/wire"
)

// The confirmation is a dead-man switch: after a successful apply the
// agent keeps the host's lock and waits for the operator to reach the host
// again over a new SSH connection. The apply itself may have broken that
// path (sshd's config, a firewall, the network), and then nobody could
// undo it from outside, so the host undoes it by itself when no
// confirmation arrives in time.
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

func (l layout) confirmSocket() string { return l.state("confirm.sock") }

// awaitConfirmation returns nil once a confirmation for this apply
// arrives, or a *NotConfirmedError when the timeout runs out first. An
// apply without a timeout needs none.
func (a *applier) awaitConfirmation() error {
	timeout := a.req.ConfirmTimeout
	if timeout <= 0 || !a.plan.Rollback {
		return nil // without a rollback, the timer would have nothing to do
	}
	token, err := newToken()
	if err != nil {
		return fmt.Errorf("wait for confirmation: %w", err)
	}
	path := a.l.confirmSocket()
	// A socket left by an agent that died waiting; the lock says nobody
	// else is waiting now.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("wait for confirmation: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("wait for confirmation: %w", err)
	}
	defer ln.Close() // also removes the socket file
	taken, over := make(chan struct{}), make(chan struct{})
	defer close(over)
	go acceptConfirmations(ln, token, taken, over)
	timer := a.after(timeout)
	a.say(wire.Progress{Step: "confirm", Detail: token})
	select {
	case taken <- struct{}{}:
		return nil
	case <-timer:
		return &NotConfirmedError{Timeout: timeout}
	}
}

// acceptConfirmations answers connections on ln until one brings token and
// the waiting apply takes it (a receive on taken), or the wait is over. The
// answer goes out after the apply decided, so the confirming agent reports
// success only for a confirmation that counted.
func acceptConfirmations(ln net.Listener, token string, taken, over <-chan struct{}) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed: the wait is over
		}
		if !readsToken(c, token) {
			fmt.Fprintln(c, "wrong token")
			c.Close()
			continue
		}
		select {
		case <-taken:
			fmt.Fprintln(c, "ok")
		case <-over:
			fmt.Fprintln(c, "too late: the apply is being rolled back")
		}
		c.Close()
		return
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
	nothing := wire.Errorf(wire.CodeBadRequest, "host %s: no apply is waiting for confirmation: it may have timed out and rolled back", s.host)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", s.l.confirmSocket())
	if err != nil {
		return nil, nothing
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(c, req.Token); err != nil {
		return nil, nothing
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	switch {
	case err != nil:
		return nil, nothing
	case strings.TrimSpace(answer) != "ok":
		return nil, wire.Errorf(wire.CodeBadRequest, "host %s: the waiting apply refused the confirmation: %s", s.host, strings.TrimSpace(answer))
	}
	return &wire.ConfirmReply{}, nil
}
