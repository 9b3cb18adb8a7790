package transport

import (
	"os"
	"strings"
	"testing"

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
	if err == nil || !strings.Contains(err.Error(), ": configure passwordless sudo for plain") {
		t.Errorf("user without sudo: %v", err)
	}
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
