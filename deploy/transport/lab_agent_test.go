package transport

import (
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// startAgent runs OpenSSH's ssh-agent on a socket of its own, stopped at
// cleanup, and loads key into it.
func startAgent(t *testing.T, key any) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Skipf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var conn net.Conn
	waitFor(t, "ssh-agent to listen", func() bool {
		c, err := net.Dial("unix", sock)
		conn = c
		return err == nil
	})
	defer conn.Close()
	if err := agent.NewClient(conn).Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	return sock
}

func TestLabEncryptedIdentityThroughAgent(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	identity, _ := labFiles(t, l)
	raw, err := ssh.ParseRawPrivateKey(mustRead(t, identity))
	if err != nil {
		t.Fatal(err)
	}
	// The lab's key, encrypted, as an operator's key usually is.
	block, err := ssh.MarshalPrivateKeyWithPassphrase(*raw.(*ed25519.PrivateKey), "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	encrypted := filepath.Join(t.TempDir(), "id_ed25519")
	os.WriteFile(encrypted, pem.EncodeToMemory(block), 0o600)
	opts := writeConfig(t, hostBlock(t, l, "web1", "web1", "IdentityFile "+encrypted))

	_, err = Dial(labCtx(t), "web1", opts)
	want := "no key to log in as root with: no ssh-agent (SSH_AUTH_SOCK is unset); identity file " +
		encrypted + " is encrypted and not in ssh-agent: add it with: ssh-add " + encrypted
	if err == nil || err.Error() != want {
		t.Fatalf("encrypted key, no agent:\n got %v\nwant %s", err, want)
	}

	sock := startAgent(t, raw)
	t.Setenv("SSH_AUTH_SOCK", sock)
	opts.NoAgent = false
	c := dialLab(t, "web1", opts)
	if out, err := c.Run(labCtx(t), "hostname", nil); err != nil || string(out) != "web1\n" {
		t.Errorf("through the agent: %q, %v", out, err)
	}
}

func TestLabHungHostTimesOut(t *testing.T) {
	// A host whose sshd stopped: TCP connects (the kernel accepts), then
	// nothing. Its own lab, since nothing can log in to it afterwards.
	l := lab.StartFresh(t, "hung")
	pid := strings.TrimSpace(mustExec(t, l, "hung", "systemctl", "show", "-P", "MainPID", "ssh"))
	mustExec(t, l, "hung", "kill", "-STOP", pid)

	opts := writeConfig(t, hostBlock(t, l, "hung", "hung", "ConnectTimeout 1"))
	_, err := Dial(labCtx(t), "hung", opts)
	want := l.Addr("hung") + ":22: ssh handshake: no answer within 1s (ConnectTimeout): is the host up?"
	if err == nil || err.Error() != want {
		t.Errorf("ConnectTimeout:\n got %v\nwant %s", err, want)
	}

	ctx, cancel := context.WithTimeout(labCtx(t), 200*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, "hung", writeConfig(t, hostBlock(t, l, "hung", "hung")))
	want = l.Addr("hung") + ":22: ssh handshake: context deadline exceeded"
	if err == nil || err.Error() != want {
		t.Errorf("context deadline:\n got %v\nwant %s", err, want)
	}
}
