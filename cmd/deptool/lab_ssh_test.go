package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
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

	out, code := op.runOnTerminal(password, "deploy", "--yes", "--ask-become-pass")
	if code != 0 {
		t.Fatalf("deploy exited %d:\n%s", code, out)
	}
	t.Logf("deptool deploy --yes --ask-become-pass:\n%s", out)
	if strings.Contains(out, password) {
		t.Errorf("the password was echoed:\n%s", out)
	}
	if got := onHost(t, l, "web1", "cat /var/lib/deptool/apps/site/current/index.html"); got != "through the proxy" {
		t.Errorf("web1 site = %q\n%s", got, out)
	}
}
