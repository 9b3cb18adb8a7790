package transport

import (
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/deptool/deptool/internal/lab"
)

// addUser creates a login user on a lab host with the lab's client key
// and the given sudoers rule (none if empty), removed at cleanup.
func addUser(t *testing.T, l *lab.Lab, host, name, sudoers string) {
	t.Helper()
	identity, _ := labFiles(t, l)
	pub, err := os.ReadFile(identity + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	// '*' rather than a locked '!' password: no password login, but the
	// account is not locked, so sshd lets the key in.
	script := `set -e
useradd -m -s /bin/sh -p '*' "$1"
install -d -m 700 -o "$1" -g "$1" "/home/$1/.ssh"
printf '%s' "$2" > "/home/$1/.ssh/authorized_keys"
chown "$1:$1" "/home/$1/.ssh/authorized_keys"
if [ -n "$3" ]; then printf '%s\n' "$3" > "/etc/sudoers.d/$1"; chmod 440 "/etc/sudoers.d/$1"; fi`
	mustExec(t, l, host, "sh", "-c", script, "sh", name, string(pub), sudoers)
	t.Cleanup(func() { l.Exec(host, "sh", "-c", `rm -f "/etc/sudoers.d/$1"; userdel -r "$1"`, "sh", name) })
}

func TestLabSudo(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	addUser(t, l, "web1", "deployer", "deployer ALL=(ALL) NOPASSWD: ALL")
	addUser(t, l, "web1", "asker", "asker ALL=(ALL) ALL")
	addUser(t, l, "web1", "plain", "")
	opts := writeConfig(t,
		hostBlock(t, l, "as-deployer", "web1", "User deployer"),
		hostBlock(t, l, "as-asker", "web1", "User asker"),
		hostBlock(t, l, "as-plain", "web1", "User plain"),
	)

	c := dialLab(t, "as-deployer", opts)
	if c.User() != "deployer" {
		t.Errorf("User() = %s, want deployer", c.User())
	}
	out, err := c.Run(labCtx(t), `id -un; echo "$SUDO_USER"`, nil)
	if err != nil || string(out) != "root\ndeployer\n" {
		t.Errorf("commands run as %q, %v; want root via deployer's sudo", out, err)
	}
	p, err := c.Start(labCtx(t), "id -u; cat")
	if err != nil {
		t.Fatal(err)
	}
	p.Stdin.Write([]byte("piped"))
	p.Stdin.Close()
	if out, _ := readAll(p); out != "0\npiped" {
		t.Errorf("Start under sudo: %q", out)
	}
	if err := p.Wait(); err != nil {
		t.Errorf("Start under sudo: %v", err)
	}
	path := "/var/lib/deptool-sudo-test/file"
	t.Cleanup(func() { l.Exec("web1", "rm", "-rf", "/var/lib/deptool-sudo-test") })
	if err := c.Upload(labCtx(t), path, NewBlob([]byte("x")), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, l, "web1", "stat", "-c", "%a %U", path); got != "600 root\n" {
		t.Errorf("uploaded under sudo: %s", got)
	}

	_, err = Dial(labCtx(t), "as-asker", opts)
	if err == nil || !strings.HasPrefix(err.Error(), "host as-asker: logged in as asker, and sudo asks for a password: run with --ask-become-pass to type it, or configure passwordless sudo for asker") {
		t.Errorf("sudo wanting a password: %v", err)
	}
	// sudo asks a user outside sudoers for a password too, before telling
	// them no; the fix is the same.
	_, err = Dial(labCtx(t), "as-plain", opts)
	if err == nil || !strings.Contains(err.Error(), "configure passwordless sudo for plain") {
		t.Errorf("user without sudo: %v", err)
	}
}

// waitEchoOff waits until the terminal no longer echoes what is typed:
// the prompt comes a moment before the password reader turns echo off.
func waitEchoOff(t *testing.T, ptmx *os.File) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := unix.IoctlGetTermios(int(ptmx.Fd()), unix.TCGETS)
		if err != nil {
			t.Error(err)
			return
		}
		if st.Lflag&unix.ECHO == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Error("the terminal still echoes 10s after the prompt")
}

func readAll(p *Process) (string, error) {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := p.Stdout.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String(), nil
		}
	}
}

// A sudo that wants a password gets it from --ask-become-pass: asked on a
// real terminal (a pty here), not echoed, sent only to hosts whose sudo
// asks, and never mixed into a command's own stdin.
func TestLabSudoPassword(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	const password = "s3cret pass"
	addUser(t, l, "web1", "pwuser", "pwuser ALL=(ALL) ALL")
	mustExec(t, l, "web1", "sh", "-c", `printf '%s\n' "$1" | chpasswd`, "sh", "pwuser:"+password)
	addUser(t, l, "web2", "nopw", "nopw ALL=(ALL) NOPASSWD: ALL")

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	// The operator: waits for the prompt, types the password.
	var screen strings.Builder
	typed := make(chan struct{})
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := ptmx.Read(buf)
			screen.Write(buf[:n])
			if strings.Contains(screen.String(), "become password") && strings.HasSuffix(screen.String(), ": ") {
				// As a person would: once the terminal stopped echoing.
				waitEchoOff(t, ptmx)
				ptmx.Write([]byte(password + "\r"))
			}
			if strings.Count(screen.String(), "\n") >= 1 || err != nil {
				close(typed)
				return
			}
		}
	}()
	typedPW, err := ReadBecomePassword(tty, tty)
	if err != nil {
		t.Fatal(err)
	}
	<-typed
	if n := strings.Count(screen.String(), "become password"); n != 1 || strings.Contains(screen.String(), "s3cret") {
		t.Errorf("terminal showed %q: want one prompt and no password", screen.String())
	}
	if string(typedPW) != password {
		t.Fatalf("read %q from the terminal, want %q", typedPW, password)
	}
	var asked atomic.Int32
	opts := writeConfig(t,
		hostBlock(t, l, "as-pwuser", "web1", "User pwuser"),
		hostBlock(t, l, "as-nopw", "web2", "User nopw"),
	)
	opts.BecomePassword = func(host string) ([]byte, error) {
		asked.Add(1)
		return typedPW, nil
	}

	// A host whose sudo needs no password never asks.
	dialLab(t, "as-nopw", opts)
	if asked.Load() != 0 {
		t.Fatalf("a host with passwordless sudo asked for the password")
	}
	// Two connections at once to a host that asks.
	conns := make([]*Conn, 2)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(labCtx(t), "as-pwuser", opts)
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { c.Close() })
			conns[i] = c
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	c := conns[0]
	if out, err := c.Run(labCtx(t), `id -un; echo "$SUDO_USER"`, nil); err != nil || string(out) != "root\npwuser\n" {
		t.Errorf("commands run as %q, %v; want root via pwuser's sudo", out, err)
	}
	// The command's stdin is the caller's alone.
	if out, err := c.Run(labCtx(t), "cat", strings.NewReader("data")); err != nil || string(out) != "data" {
		t.Errorf("Run with stdin under sudo -S: %q, %v", out, err)
	}
	p, err := c.Start(labCtx(t), "id -u; cat")
	if err != nil {
		t.Fatal(err)
	}
	p.Stdin.Write([]byte("piped"))
	p.Stdin.Close()
	if out, _ := readAll(p); out != "0\npiped" {
		t.Errorf("Start under sudo -S: %q", out)
	}
	if err := p.Wait(); err != nil {
		t.Errorf("Start under sudo -S: %v", err)
	}
	// sudo's prompt is not part of a failing command's stderr (sudo may
	// warn before it, as about the lab hosts' names).
	_, err = c.Run(labCtx(t), "echo oops >&2; exit 3", nil)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Status != 3 || (ee.Stderr != "oops" && !strings.HasSuffix(ee.Stderr, "\noops")) || strings.Contains(ee.Stderr, "deptool-become") {
		t.Errorf("failing command under sudo -S: %v", err)
	}
	path := "/var/lib/deptool-sudo-test/pw"
	t.Cleanup(func() { l.Exec("web1", "rm", "-rf", "/var/lib/deptool-sudo-test") })
	if err := c.Upload(labCtx(t), path, NewBlob([]byte("x")), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, l, "web1", "stat", "-c", "%a %U", path); got != "600 root\n" {
		t.Errorf("uploaded under sudo -S: %s", got)
	}

	// A wrong password: one line, no retry.
	wrong := opts
	wrong.BecomePassword = func(string) ([]byte, error) { return []byte("wrong"), nil }
	_, err = Dial(labCtx(t), "as-pwuser", wrong)
	if err == nil || err.Error() != "host as-pwuser: sudo refused the password typed for pwuser (--ask-become-pass): check it and run again" {
		t.Errorf("wrong password: %v", err)
	}
}

// doas, chosen per host (Options.Become, from the store's deptool.become):
// a permitted user's commands run as root; one not permitted gets the fix.
func TestLabDoas(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	if _, err := l.Exec("web1", "test", "-x", "/usr/bin/doas"); err != nil {
		t.Fatal("doas is not installed on the lab's hosts: apt-get install opendoas (just lab-deps)")
	}
	addUser(t, l, "web1", "doer", "")
	addUser(t, l, "web1", "nodoer", "")
	mustExec(t, l, "web1", "sh", "-c", "printf 'permit nopass doer as root\\n' > /etc/doas.conf && chmod 600 /etc/doas.conf")
	t.Cleanup(func() { l.Exec("web1", "rm", "-f", "/etc/doas.conf") })
	opts := writeConfig(t,
		hostBlock(t, l, "as-doer", "web1", "User doer"),
		hostBlock(t, l, "as-nodoer", "web1", "User nodoer"),
	)
	opts.Become = func(string) string { return BecomeDoas }

	c := dialLab(t, "as-doer", opts)
	if out, err := c.Run(labCtx(t), `id -un; echo "$DOAS_USER"`, nil); err != nil || string(out) != "root\ndoer\n" {
		t.Errorf("commands run as %q, %v; want root via doer's doas", out, err)
	}
	p, err := c.Start(labCtx(t), "id -u; cat")
	if err != nil {
		t.Fatal(err)
	}
	p.Stdin.Write([]byte("piped"))
	p.Stdin.Close()
	if out, _ := readAll(p); out != "0\npiped" {
		t.Errorf("Start under doas: %q", out)
	}
	if err := p.Wait(); err != nil {
		t.Errorf("Start under doas: %v", err)
	}

	_, err = Dial(labCtx(t), "as-nodoer", opts)
	if err == nil || !strings.HasPrefix(err.Error(), "host as-nodoer: logged in as nodoer, and doas refuses or wants a password: add 'permit nopass nodoer as root' to /etc/doas.conf") {
		t.Errorf("user doas does not permit: %v", err)
	}
}

// run0 (systemd 256 and later, so a Debian 13 host): without polkit, a
// user other than root may not use it, and is told so.
func TestLabRun0(t *testing.T) {
	l := lab.Start(t, "r0@trixie")
	addUser(t, l, "r0", "runner", "")
	opts := writeConfig(t, hostBlock(t, l, "as-runner", "r0", "User runner"))
	opts.Become = func(string) string { return BecomeRun0 }
	_, err := Dial(labCtx(t), "as-runner", opts)
	if err == nil || err.Error() != "host as-runner: logged in as runner, who may not use run0 without a password: allow runner to manage units through polkit (org.freedesktop.systemd1.manage-units) without authentication, or log in as root (run0 said: Failed to start transient service unit: Access denied)" {
		t.Errorf("run0 without polkit: %v", err)
	}
}
