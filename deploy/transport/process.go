package transport

import (
	"context"
	"errors"
	"io"
	"sync"

	"golang.org/x/crypto/ssh"
)

// Process is a command running on the host in a session of its own, with
// its stdin and stdout as plain byte streams (no terminal), as the agent
// protocol needs.
type Process struct {
	// Stdin is the command's stdin; closing it sends EOF.
	Stdin io.WriteCloser
	// Stdout is the command's stdout. It must be read: once the SSH window
	// fills, the command blocks writing.
	Stdout io.Reader

	conn   *Conn
	cmd    string
	s      *ssh.Session
	stderr *tail
	stop   func() bool
	done   chan struct{} // closed when the session ends
	pipe   *io.PipeReader
	ended  sync.Once

	once    sync.Once
	waitErr error
}

// Start starts a shell command line as root. When ctx ends before the
// process does, the process is closed as by Close.
func (c *Conn) Start(ctx context.Context, cmd string) (*Process, error) {
	return c.start(ctx, cmd, cmd)
}

// start is Start with what errors call the command.
func (c *Conn) start(ctx context.Context, cmd, name string) (*Process, error) {
	s, err := c.session(name)
	if err != nil {
		return nil, err
	}
	p := &Process{conn: c, cmd: name, s: s, stderr: newTail(stderrTail), done: make(chan struct{})}
	if c.become.password == nil {
		s.Stderr = p.stderr
		p.Stdin, err = s.StdinPipe()
	} else {
		// sudo reads the password from stdin first: the caller's writes
		// follow it through a pipe.
		r, w := io.Pipe()
		s.Stdin, s.Stderr = c.become.stdio(r, p.stderr, p.done)
		p.Stdin, p.pipe = w, r
	}
	if err == nil {
		p.Stdout, err = s.StdoutPipe()
	}
	if err == nil {
		err = s.Start(c.become.wrap(cmd))
	}
	if err != nil {
		s.Close()
		return nil, c.fail(name, err)
	}
	p.stop = context.AfterFunc(ctx, func() { p.Close() })
	return p, nil
}

// end releases what waits on the session: the password reader, and a
// caller blocked writing to stdin.
func (p *Process) end() {
	p.ended.Do(func() {
		close(p.done)
		if p.pipe != nil {
			p.pipe.CloseWithError(io.ErrClosedPipe)
		}
	})
}

// Stderr returns the end of what the process wrote to stderr so far (the
// last 8 KiB), trimmed.
func (p *Process) Stderr() string { return p.stderr.String() }

// Wait waits for the process to exit. A non-zero exit is an *ExitError
// carrying the end of stderr. Wait may be called more than once.
func (p *Process) Wait() error {
	p.once.Do(func() {
		err := p.s.Wait()
		p.end()
		p.stop()
		p.waitErr = p.conn.exitError(p.cmd, err, p.stderr)
	})
	return p.waitErr
}

// Close closes the session. The remote process sees EOF on stdin and a
// broken pipe on stdout; it is not killed, so a process that must finish
// its work (the agent, mid-apply) can. sshd keeps the session until the
// process exits, so a Wait after Close returns only then.
func (p *Process) Close() error {
	p.end()
	err := p.s.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return p.conn.fail(p.cmd, err)
	}
	return nil
}
