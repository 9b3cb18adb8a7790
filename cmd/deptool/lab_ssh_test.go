package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/deptool/deptool/internal/lab"
	"golang.org/x/sys/unix"
)

// An operator's real setup, end to end: the host is reachable only through
// a ProxyCommand (its HostName is an address where nothing answers), its
// key is filed under its HostKeyAlias, and the login user's sudo asks for a
// password, which deptool asks for on the terminal.
func TestDeployThroughProxyCommandWithSudoPassword(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	const password = "ops pass"
	pub, err := os.ReadFile(filepath.Join(l.StateDir(), "id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	onHost(t, l, "web1", `set -e
useradd -m -s /bin/sh ops
printf '%s\n' 'ops:`+password+`' | chpasswd
install -d -m 700 -o ops -g ops /home/ops/.ssh
printf '%s' '`+strings.TrimSpace(string(pub))+`' > /home/ops/.ssh/authorized_keys
chown ops:ops /home/ops/.ssh/authorized_keys
echo 'ops ALL=(ALL) ALL' > /etc/sudoers.d/ops`)
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(cfg, []byte("Host web1\n"+
		"  HostName 198.18.255.254\n"+
		"  ProxyCommand nc "+l.Addr("web1")+" %p\n"+
		"  HostKeyAlias web1\n"+
		"  User ops\n"+
		"  IdentityFile "+filepath.Join(l.StateDir(), "id_ed25519")+"\n"+
		"  IdentitiesOnly yes\n"+
		"  UserKnownHostsFile "+filepath.Join(l.StateDir(), "known_hosts")+"\n"+
		"  StrictHostKeyChecking yes\n"), 0o644)
	op := newOperator(t, l)
	op.env = append(op.env, "DEPTOOL_SSH_CONFIG="+cfg, "SSH_AUTH_SOCK=")
	op.write(map[string]string{"web1/site/index.html": "through the proxy\n"})

	cmd := exec.Command(op.bin, "deploy", "--yes", "--ask-become-pass")
	cmd.Dir, cmd.Env = op.root, op.env
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		answered := false
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			ask := !answered && strings.Contains(screen.String(), "become password")
			mu.Unlock()
			if ask {
				answered = true
				// As a person would: once the terminal stopped echoing
				// (the master shares the terminal's settings).
				for i := 0; i < 2000; i++ {
					st, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
					if err != nil || st.Lflag&unix.ECHO == 0 {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				tty.Write([]byte(password + "\r"))
			}
			if err != nil {
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		err = <-done
	}
	mu.Lock()
	out := screen.String()
	mu.Unlock()
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	t.Logf("deptool deploy --yes --ask-become-pass:\n%s", out)
	if strings.Contains(out, password) {
		t.Errorf("the password was echoed:\n%s", out)
	}
	if got := onHost(t, l, "web1", "cat /var/lib/deptool/apps/site/current/index.html"); got != "through the proxy" {
		t.Errorf("web1 site = %q\n%s", got, out)
	}
}
