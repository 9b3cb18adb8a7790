package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

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
	var sin io.Reader
	if stdin != nil {
		sin = in
	}
	done := make(chan struct{})
	defer close(done)
	s.Stdin, s.Stderr = c.become.stdio(sin, errs, done)
	s.Stdout = &out
	if err := s.Start(c.become.wrap(cmd)); err != nil {
		return nil, c.fail(name, err)
	}
	if err, ok := wait(ctx, s); !ok {
		in.stop()
		return nil, fmt.Errorf("host %s: %s: %w", c.host, name, err)
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
		if msg := c.becomeProblem(ee.ExitStatus(), stderr.String()); msg != "" {
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
