package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// loopSSHD is a real SSH server on loopback (x/crypto/ssh) that records
// every login attempt and every byte a client sends on a session: what
// an impostor would collect. It runs commands by answering them with exit
// status 0, and forwards direct-tcpip channels, so it can be a jump host.
type loopSSHD struct {
	addr string
	port int
	key  ssh.PublicKey

	mu       sync.Mutex
	auths    []string // method and user of each login attempt
	received []byte   // everything sent on session channels
}

func startSSHD(t *testing.T) *loopSSHD {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &loopSSHD{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port, key: signer.PublicKey()}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, _ ssh.PublicKey) (*ssh.Permissions, error) {
			s.record("publickey " + c.User())
			return nil, nil
		},
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			s.record("password " + c.User() + " " + string(pw))
			return nil, errors.New("no")
		},
		KeyboardInteractiveCallback: func(c ssh.ConnMetadata, _ ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			s.record("keyboard-interactive " + c.User())
			return nil, errors.New("no")
		},
	}
	cfg.AddHostKey(signer)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(nc, cfg)
		}
	}()
	return s
}

func (s *loopSSHD) record(auth string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auths = append(s.auths, auth)
}

func (s *loopSSHD) seen() ([]string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...), string(s.received)
}

func (s *loopSSHD) serve(nc net.Conn, cfg *ssh.ServerConfig) {
	defer nc.Close()
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			go s.session(nch)
		case "direct-tcpip":
			go forward(nch)
		default:
			nch.Reject(ssh.UnknownChannelType, "no")
		}
	}
}

func (s *loopSSHD) session(nch ssh.NewChannel) {
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(false, nil)
			continue
		}
		req.Reply(true, nil)
		// Whatever the client writes before it sees the end (a password
		// for sudo, say) is recorded.
		go func() {
			b, _ := io.ReadAll(ch)
			s.mu.Lock()
			s.received = append(s.received, b...)
			s.mu.Unlock()
		}()
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
		return
	}
}

func forward(nch ssh.NewChannel) {
	var to struct {
		Host     string
		Port     uint32
		FromHost string
		FromPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &to); err != nil {
		nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	nc, err := net.Dial("tcp", net.JoinHostPort(to.Host, fmt.Sprint(to.Port)))
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		nc.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	go func() { io.Copy(nc, ch); nc.Close() }()
	io.Copy(ch, nc)
	ch.Close()
}

// mitmSetup is an operator's ssh config and files for loopback servers.
type mitmSetup struct {
	dir, cfg, known string
}

func newMITMSetup(t *testing.T) *mitmSetup {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "id"), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return &mitmSetup{dir: dir, cfg: filepath.Join(dir, "ssh_config"), known: filepath.Join(dir, "known_hosts")}
}

// host adds a Host block for a loopback server, with extra lines.
func (m *mitmSetup) host(t *testing.T, alias string, s *loopSSHD, extra ...string) {
	t.Helper()
	block := fmt.Sprintf("Host %s\n  HostName 127.0.0.1\n  Port %d\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n",
		alias, s.port, filepath.Join(m.dir, "id"), m.known)
	for _, e := range extra {
		block += "  " + e + "\n"
	}
	f, err := os.OpenFile(m.cfg, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(block)
}

// know records key for a loopback server's address, with a marker such
// as "@revoked " if wanted.
func (m *mitmSetup) know(t *testing.T, marker string, port int, key ssh.PublicKey) {
	t.Helper()
	f, err := os.OpenFile(m.known, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(marker + knownLine(fmt.Sprintf("[127.0.0.1]:%d", port), key))
}

// dial connects as an operator with --ask-become-pass would: the sudo
// password is there to be sent, and asking for it is recorded.
func (m *mitmSetup) dial(host string) (*Conn, []string, bool, error) {
	var mu sync.Mutex
	var notes []string
	asked := false
	opts := Options{
		ConfigFile: m.cfg, NoAgent: true,
		Notify: func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() },
		BecomePassword: func(string) ([]byte, error) {
			mu.Lock()
			asked = true
			mu.Unlock()
			return []byte("hunter2-sudo"), nil
		},
	}
	c, err := Dial(context.Background(), host, opts)
	mu.Lock()
	defer mu.Unlock()
	return c, notes, asked, err
}

// An impostor with another key on a known host's address, and
// StrictHostKeyChecking no: refused in the handshake, before any login
// attempt, so it learns no user, key or password; the sudo password is
// never even asked for.
func TestStrictNoRefusesAChangedOrRevokedKeyBeforeLogin(t *testing.T) {
	for _, tc := range []struct {
		name, marker string
		want         string
	}{
		{"changed", "", "THE HOST KEY HAS CHANGED"},
		{"revoked", "@revoked ", "is marked @revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMITMSetup(t)
			mitm := startSSHD(t)
			m.host(t, "web1", mitm, "User deploy", "StrictHostKeyChecking no")
			if tc.marker == "" {
				m.know(t, "", mitm.port, newHostKey(t)) // the real host's key
			} else {
				m.know(t, tc.marker, mitm.port, mitm.key)
			}
			c, notes, asked, err := m.dial("web1")
			if err == nil {
				c.Close()
				t.Fatal("connected to a host whose key is " + tc.name)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			auths, got := mitm.seen()
			if len(auths) > 0 || got != "" || asked {
				t.Errorf("the impostor saw logins %q and data %q (sudo password asked: %v)", auths, got, asked)
			}
			if len(notes) > 0 {
				t.Errorf("notes for a refused key: %q", notes)
			}
		})
	}
}

// Behind a jump host, the impostor is the target: the jump host (known,
// genuine) is logged in to, the target is refused before login.
func TestStrictNoRefusesAChangedKeyBehindAJumpHost(t *testing.T) {
	m := newMITMSetup(t)
	jump, mitm := startSSHD(t), startSSHD(t)
	m.host(t, "jump", jump, "User root")
	m.host(t, "web1", mitm, "User deploy", "ProxyJump jump", "StrictHostKeyChecking no")
	m.know(t, "", jump.port, jump.key)
	m.know(t, "", mitm.port, newHostKey(t))
	c, _, asked, err := m.dial("web1")
	if err == nil {
		c.Close()
		t.Fatal("connected through the jump host to a host whose key changed")
	}
	if !strings.Contains(err.Error(), "THE HOST KEY HAS CHANGED") {
		t.Errorf("error %q does not say the key changed", err)
	}
	if auths, got := mitm.seen(); len(auths) > 0 || got != "" || asked {
		t.Errorf("the impostor saw logins %q and data %q (sudo password asked: %v)", auths, got, asked)
	}
	if auths, _ := jump.seen(); len(auths) == 0 {
		t.Errorf("the jump host was not logged in to: the test proves nothing")
	}
}

// StrictHostKeyChecking no still accepts a host never seen, and says so
// with its name and the key's fingerprint.
func TestStrictNoAcceptsAnUnknownHostWithAWarning(t *testing.T) {
	m := newMITMSetup(t)
	s := startSSHD(t)
	m.host(t, "web1", s, "User root", "StrictHostKeyChecking no")
	m.know(t, "", 1, newHostKey(t)) // another host's key only
	c, notes, _, err := m.dial("web1")
	if err != nil {
		t.Fatalf("unknown host under StrictHostKeyChecking no: %v", err)
	}
	c.Close()
	if len(notes) != 1 || !strings.Contains(notes[0], "web1") || !strings.Contains(notes[0], ssh.FingerprintSHA256(s.key)) || !strings.HasPrefix(notes[0], "warning: ") {
		t.Errorf("notes = %q, want one warning naming web1 and %s", notes, ssh.FingerprintSHA256(s.key))
	}
	if b, _ := os.ReadFile(m.known); strings.Count(string(b), "\n") != 1 {
		t.Errorf("known_hosts changed under StrictHostKeyChecking no:\n%s", b)
	}
}
