package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proxyConn is SSH spoken over a ProxyCommand's stdin and stdout, as
// OpenSSH does: the command (`nc %h %p`, `aws ssm start-session ...`,
// `cloudflared access ssh ...`) connects somewhere, deptool does the rest.
type proxyConn struct {
	cmd    *exec.Cmd
	line   string // the command, for messages
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *tail

	once   sync.Once
	exited chan struct{}
	err    error // how the command ended, once exited is closed
}

// startProxy runs a hop's ProxyCommand with `sh -c`, as OpenSSH does
// (with $SHELL there; sh here, so the same config works everywhere).
func startProxy(h *hop) (*proxyConn, error) {
	cmd := exec.Command("/bin/sh", "-c", "exec "+h.ProxyCommand)
	p := &proxyConn{cmd: cmd, line: h.ProxyCommand, stderr: newTail(stderrTail), exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	// Its own process group, so the operator's Ctrl-C reaches deptool,
	// which then follows the hosts already deploying, rather than the
	// proxy dying under them. A helper that must prompt on the terminal
	// (MFA) cannot, then: log it in beforehand (docs/ssh.md).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if p.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ProxyCommand %q: %w", h.ProxyCommand, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *proxyConn) Read(b []byte) (int, error)  { return p.stdout.Read(b) }
func (p *proxyConn) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// Close closes the command's stdin and hangs up on it, as OpenSSH does
// (nc, for one, does not exit at the end of its stdin), and kills it if it
// is still there shortly after.
func (p *proxyConn) Close() error {
	p.once.Do(func() {
		p.stdin.Close()
		p.cmd.Process.Signal(syscall.SIGHUP)
		select {
		case <-p.exited:
		case <-time.After(time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return nil
}

// failure says why the proxy stopped, for an error: its exit status and
// the end of its stderr. Empty while it is running.
func (p *proxyConn) failure() string {
	select {
	case <-p.exited:
	case <-time.After(time.Second):
		// The handshake saw EOF or a broken pipe before Wait saw the
		// exit: an instant, or much longer on a loaded machine (100 ms
		// was too short under CI's load). Only failed dials wait here.
		select {
		case <-p.exited:
		default:
			return ""
		}
	}
	how := "exited"
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		how = ee.String()
	} else if p.err != nil {
		how = p.err.Error()
	}
	if s := p.stderr.String(); s != "" {
		return fmt.Sprintf("ProxyCommand failed (%s): %s; the command: %s", how, oneLine(s), p.line)
	}
	return fmt.Sprintf("ProxyCommand failed (%s); the command: %s", how, p.line)
}

// proxyAddr stands in for the far end, which only the command knows. It
// is a TCP address because known_hosts checking wants one, and it is
// never looked up there: the host's name always is.
var proxyAddr = &net.TCPAddr{IP: net.IPv4zero, Port: 0}

func (p *proxyConn) LocalAddr() net.Addr  { return proxyAddr }
func (p *proxyConn) RemoteAddr() net.Addr { return proxyAddr }

// Deadlines are not supported on pipes to a process in a portable way;
// the SSH handshake is bounded by closing the connection instead.
func (p *proxyConn) SetDeadline(time.Time) error      { return nil }
func (p *proxyConn) SetReadDeadline(time.Time) error  { return nil }
func (p *proxyConn) SetWriteDeadline(time.Time) error { return nil }

// dialProxy starts the command; it stops with ctx until the connection is
// handed over.
func dialProxy(ctx context.Context, h *hop) (*proxyConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return startProxy(h)
}

var _ net.Conn = (*proxyConn)(nil)
