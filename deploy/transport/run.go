package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// command is cmd as it must be sent to run as root: as is when logged in
// as root, else through sudo, non-interactively (-n): a sudo that wants a
// password fails instead of waiting for one nobody will type.
func (c *Conn) command(cmd string) string {
	if !c.sudo {
		return cmd
	}
	return "sudo -n -- sh -c " + shellQuote(cmd)
}

// Run runs a shell command line as root and returns its stdout. stdin, if
// not nil, is copied to the command until EOF. A command that fails
// returns an *ExitError with its exit status and the end of its stderr.
//
// When ctx ends first, Run returns ctx's error at once and closes the
// session: the command sees EOF on stdin and a broken pipe on output, and
// is sent SIGKILL, which OpenSSH ignores for root logins, so a command
// that does neither may run to its end. stdin is not read after Run
// returns, except for a Read already under way.
func (c *Conn) Run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	return c.run(ctx, cmd, cmd, stdin)
}

// run is Run with what errors call the command: a script is better named
// by what it does.
func (c *Conn) run(ctx context.Context, cmd, name string, stdin io.Reader) ([]byte, error) {
	s, err := c.session(name)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out bytes.Buffer
	errs := newTail(stderrTail)
	in := &guardedReader{r: stdin}
	if stdin != nil {
		s.Stdin = in
	}
	s.Stdout, s.Stderr = &out, errs
	if err := s.Start(c.command(cmd)); err != nil {
		return nil, c.fail(name, err)
	}
	if err, ok := wait(ctx, s); !ok {
		in.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	} else if err != nil {
		return out.Bytes(), c.exitError(name, err, errs)
	}
	return out.Bytes(), nil
}

// wait waits for a started session to end, or for ctx. It does not wait
// for a cancelled command: the host may ignore the signal.
func wait(ctx context.Context, s *ssh.Session) (err error, done bool) {
	ended := make(chan error, 1)
	go func() { ended <- s.Wait() }()
	select {
	case err := <-ended:
		return err, true
	case <-ctx.Done():
		s.Signal(ssh.SIGKILL)
		s.Close()
		return ctx.Err(), false
	}
}

// guardedReader stops reading its reader once stopped, so a cancelled Run
// leaves the caller's stdin alone.
type guardedReader struct {
	r       io.Reader
	stopped atomic.Bool
}

func (g *guardedReader) Read(p []byte) (int, error) {
	if g.stopped.Load() {
		return 0, io.EOF
	}
	return g.r.Read(p)
}

func (g *guardedReader) stop() { g.stopped.Store(true) }

// exitError turns a session's result into an operator's error.
func (c *Conn) exitError(cmd string, err error, stderr *tail) error {
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		if msg := c.sudoProblem(ee.ExitStatus(), stderr.String()); msg != "" {
			return errors.New(msg)
		}
		x := &ExitError{Host: c.host, Cmd: cmd, Status: ee.ExitStatus(), Stderr: stderr.String()}
		if ee.Signal() != "" {
			x.Status, x.Signal = -1, ee.Signal()
		}
		return x
	case errors.As(err, &missing):
		return c.fail(cmd, errors.New("the command ended without an exit status (was the connection cut?)"))
	}
	return c.fail(cmd, err)
}

// checkSudo makes sure a non-root login can become root without a
// password, once at Dial, so the problem is reported before any work
// and with the fix. LC_ALL=C keeps sudo's messages recognisable.
func (c *Conn) checkSudo(ctx context.Context) error {
	s, err := c.session("sudo -n true")
	if err != nil {
		return err
	}
	defer s.Close()
	errs := newTail(stderrTail)
	s.Stderr = errs
	if err := s.Start("LC_ALL=C sudo -n true"); err != nil {
		return c.fail("sudo -n true", err)
	}
	err, ok := wait(ctx, s)
	if !ok {
		return fmt.Errorf("checking sudo for %s: %w", c.user, err)
	}
	var ee *ssh.ExitError
	if err == nil {
		return nil
	}
	if !errors.As(err, &ee) {
		return c.fail("sudo -n true", err)
	}
	if msg := c.sudoProblem(ee.ExitStatus(), errs.String()); msg != "" {
		return errors.New(msg)
	}
	return fmt.Errorf("logged in as %s, sudo -n true failed (exit status %d): %s", c.user, ee.ExitStatus(), errs.String())
}

// sudoProblem recognises sudo refusing, as opposed to the command failing.
func (c *Conn) sudoProblem(status int, stderr string) string {
	if !c.sudo {
		return ""
	}
	fix := fmt.Sprintf("configure passwordless sudo for %s (e.g. '%s ALL=(ALL) NOPASSWD: ALL' in /etc/sudoers.d/%s), or log in as root",
		c.user, c.user, c.user)
	switch {
	case status == 1 && strings.Contains(stderr, "password is required"):
		return fmt.Sprintf("logged in as %s, and sudo asks for a password, which deptool cannot type: %s", c.user, fix)
	case status == 1 && strings.Contains(stderr, "not in the sudoers file"),
		status == 1 && strings.Contains(stderr, "is not allowed to"):
		return fmt.Sprintf("logged in as %s, who may not use sudo: %s (sudo said: %s)", c.user, fix, stderr)
	case status == 127 && strings.Contains(stderr, "sudo"):
		return fmt.Sprintf("logged in as %s, but sudo is not installed: install it, or log in as root", c.user)
	}
	return ""
}
