package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// The ways of becoming root from another login user. See Options.Become.
const (
	BecomeSudo = "sudo"
	BecomeDoas = "doas"
	BecomeRun0 = "run0"
)

// become is how a connection runs commands as root.
type become struct {
	method   string // "" when logged in as root
	password []byte // for a sudo that asks (sudo -S), else nil
	marker   string // the prompt sudo -S prints before reading it
}

// wrap is cmd as it must be sent to run as root. Without a password, the
// tool runs non-interactively: one that wants a password fails instead of
// waiting for one nobody will type. With one, sudo is told to forget any
// cached credentials (-k) so it always asks, and always at the marker:
// then the password is sent exactly when sudo reads it, and never reaches
// the command's stdin.
func (b *become) wrap(cmd string) string {
	q := shellQuote(cmd)
	switch {
	case b.method == "":
		return cmd
	case b.method == BecomeSudo && b.password != nil:
		return "sudo -k -S -p " + shellQuote(b.marker) + " -- sh -c " + q
	case b.method == BecomeSudo:
		return "sudo -n -- sh -c " + q
	case b.method == BecomeDoas:
		return "doas -n -- sh -c " + q
	case b.method == BecomeRun0:
		return "run0 --no-ask-password -- sh -c " + q
	}
	return cmd
}

// stdio wraps a command's stdin and stderr for a sudo that reads a
// password: stderr is watched for the marker (and cleaned of it), and the
// password goes first on stdin once the marker is seen. done must be
// closed when the command ends, so a sudo that never asks does not leave
// the password waiting.
func (b *become) stdio(stdin io.Reader, stderr io.Writer, done <-chan struct{}) (io.Reader, io.Writer) {
	if b.password == nil {
		return stdin, stderr
	}
	w := &markerWriter{w: stderr, marker: []byte(b.marker), seen: make(chan struct{})}
	pw := &passwordReader{password: append(append([]byte(nil), b.password...), '\n'), seen: w.seen, done: done}
	if stdin == nil {
		return pw, w
	}
	return io.MultiReader(pw, stdin), w
}

// markerWriter passes stderr on without sudo's prompt, and says when the
// prompt went by. The marker may arrive split across writes.
type markerWriter struct {
	w      io.Writer
	marker []byte
	seen   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	held   []byte // a tail that may be the start of the marker
}

func (m *markerWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	buf := append(m.held, p...)
	m.held = nil
	for {
		i := bytes.Index(buf, m.marker)
		if i < 0 {
			break
		}
		m.once.Do(func() { close(m.seen) })
		if _, err := m.w.Write(buf[:i]); err != nil {
			return 0, err
		}
		buf = buf[i+len(m.marker):]
	}
	keep := 0
	for k := min(len(m.marker)-1, len(buf)); k > 0; k-- {
		if bytes.HasSuffix(buf, m.marker[:k]) {
			keep = k
			break
		}
	}
	m.held = append([]byte(nil), buf[len(buf)-keep:]...)
	if _, err := m.w.Write(buf[:len(buf)-keep]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// passwordReader yields the password once sudo has asked for it, then
// EOF; if the command ends first, only EOF.
type passwordReader struct {
	password []byte
	seen     <-chan struct{}
	done     <-chan struct{}
	sent     int
}

func (r *passwordReader) Read(p []byte) (int, error) {
	if r.sent == 0 {
		select {
		case <-r.seen:
		case <-r.done:
			return 0, io.EOF
		}
	}
	if r.sent == len(r.password) {
		return 0, io.EOF
	}
	n := copy(p, r.password[r.sent:])
	r.sent += n
	return n, nil
}

func newMarker() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "[deptool-become-" + hex.EncodeToString(b) + "]"
}

// checkBecome makes sure a non-root login can become root, once at Dial,
// so the problem is reported before any work and with the fix. A sudo that
// asks for a password gets one if the operator offered to type it
// (Options.BecomePassword), and only then is it asked for.
func (c *Conn) checkBecome(ctx context.Context, opts Options) error {
	probe := c.become.wrap("true")
	status, stderr, err := c.tryBecome(ctx, "LC_ALL=C "+probe)
	if err != nil {
		return err
	}
	if status == 0 {
		return nil
	}
	if c.become.method == BecomeSudo && isPasswordWanted(stderr) && opts.BecomePassword != nil {
		return c.sudoWithPassword(ctx, opts)
	}
	if msg := c.becomeProblem(status, stderr); msg != "" {
		return errors.New(msg)
	}
	return fmt.Errorf("host %s: logged in as %s, %s failed (exit status %d): %s", c.host, c.user, probe, status, stderr)
}

func isPasswordWanted(stderr string) bool {
	return strings.Contains(stderr, "password is required")
}

// sudoWithPassword asks the operator for the password (once per deploy:
// BecomePassword remembers it) and checks that sudo takes it.
func (c *Conn) sudoWithPassword(ctx context.Context, opts Options) error {
	pw, err := opts.BecomePassword(c.host)
	if err != nil {
		return fmt.Errorf("host %s: sudo asks %s for a password: %w", c.host, c.user, err)
	}
	c.become.password, c.become.marker = pw, newMarker()
	status, stderr, err := c.tryBecome(ctx, "LC_ALL=C "+c.become.wrap("true"))
	if err != nil {
		return err
	}
	if status != 0 {
		c.become.password = nil
		if strings.Contains(stderr, "incorrect password") || strings.Contains(stderr, "Sorry, try again") || strings.Contains(stderr, "no password was provided") {
			return fmt.Errorf("host %s: sudo refused the password typed for %s (--ask-become-pass): check it and run again", c.host, c.user)
		}
		if msg := c.becomeProblem(status, stderr); msg != "" {
			return errors.New(msg)
		}
		return fmt.Errorf("host %s: logged in as %s, sudo with a password failed (exit status %d): %s", c.host, c.user, status, stderr)
	}
	return nil
}

// tryBecome runs a short command as the login user and returns its exit
// status and stderr; err is for the session failing, not the command.
func (c *Conn) tryBecome(ctx context.Context, cmd string) (int, string, error) {
	s, err := c.session(cmd)
	if err != nil {
		return 0, "", err
	}
	defer s.Close()
	done := make(chan struct{})
	defer close(done)
	errs := newTail(stderrTail)
	s.Stdin, s.Stderr = c.become.stdio(nil, errs, done)
	if err := s.Start(cmd); err != nil {
		return 0, "", c.fail(cmd, err)
	}
	err, ok := wait(ctx, s)
	if !ok {
		return 0, "", fmt.Errorf("host %s: checking that %s can become root: %w", c.host, c.user, err)
	}
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return 0, errs.String(), nil
	case errors.As(err, &ee):
		return ee.ExitStatus(), errs.String(), nil
	}
	return 0, "", c.fail(cmd, err)
}

// becomeProblem recognises sudo or doas refusing, as opposed to the
// command failing.
func (c *Conn) becomeProblem(status int, stderr string) string {
	m := c.become.method
	if m == "" {
		return ""
	}
	if m != BecomeSudo {
		switch {
		case status == 127 && strings.Contains(stderr, m):
			return fmt.Sprintf("host %s: logged in as %s, but %s is not installed: install it, or log in as root", c.host, c.user, m)
		case m == BecomeDoas && status == 1 && (strings.Contains(stderr, "Authentication required") || strings.Contains(stderr, "not permitted")):
			return fmt.Sprintf("host %s: logged in as %s, and doas refuses or wants a password: add 'permit nopass %s as root' to /etc/doas.conf, or log in as root (doas reads passwords only from a terminal) (doas said: %s)", c.host, c.user, c.user, stderr)
		case m == BecomeRun0 && status != 0 && (strings.Contains(stderr, "nteractive authentication required") || strings.Contains(stderr, "Access denied")):
			return fmt.Sprintf("host %s: logged in as %s, who may not use run0 without a password: allow %s to manage units through polkit (org.freedesktop.systemd1.manage-units) without authentication, or log in as root (run0 said: %s)", c.host, c.user, c.user, stderr)
		}
		return ""
	}
	fix := fmt.Sprintf("configure passwordless sudo for %s (e.g. '%s ALL=(ALL) NOPASSWD: ALL' in /etc/sudoers.d/%s), or log in as root",
		c.user, c.user, c.user)
	switch {
	case status == 1 && isPasswordWanted(stderr):
		return fmt.Sprintf("host %s: logged in as %s, and sudo asks for a password: run with --ask-become-pass to type it, or %s", c.host, c.user, fix)
	case status == 1 && strings.Contains(stderr, "not in the sudoers file"),
		status == 1 && strings.Contains(stderr, "is not allowed to"):
		return fmt.Sprintf("host %s: logged in as %s, who may not use sudo: %s (sudo said: %s)", c.host, c.user, fix, stderr)
	case status == 127 && strings.Contains(stderr, "sudo"):
		return fmt.Sprintf("host %s: logged in as %s, but sudo is not installed: install it, or log in as root", c.host, c.user)
	}
	return ""
}
