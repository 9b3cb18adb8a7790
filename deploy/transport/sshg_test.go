package transport

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// gResolver resolves through the real OpenSSH client, with a config of
// the test's own (-F), so the machine's ~/.ssh/config does not leak in.
func gResolver(t *testing.T, cfg string) *resolver {
	t.Helper()
	bin := lookSSH()
	if bin == "" {
		t.Skip("no ssh client")
	}
	home := t.TempDir()
	file := filepath.Join(home, "ssh_config")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return &resolver{ssh: bin, file: file, explicit: true, home: home, localUser: "alice"}
}

func TestSSHGResolvesMatchAndTokens(t *testing.T) {
	r := gResolver(t, `
Host web1
  HostName 10.1.2.3
  ProxyCommand nc %h %p %r %n
  HostKeyAlias web1-key
  CertificateFile ~/certs/%r-cert.pub
  ServerAliveInterval 7
  ServerAliveCountMax 2
  AddressFamily inet
Match host 10.1.2.3
  User matched
  Port 2200
`)
	h, err := r.hop("web1")
	if err != nil {
		t.Fatal(err)
	}
	if h.User != "matched" || h.Port != 2200 || h.HostName != "10.1.2.3" {
		t.Errorf("resolved to %s@%s:%d, want the Match block's user and port", h.User, h.HostName, h.Port)
	}
	if h.ProxyCommand != "nc 10.1.2.3 2200 matched web1" {
		t.Errorf("ProxyCommand = %q", h.ProxyCommand)
	}
	if h.HostKeyAlias != "web1-key" || h.KeepAlive.Seconds() != 7 || h.KeepAliveMax != 2 || h.Network != "tcp4" {
		t.Errorf("hop = %+v", h)
	}
	if !slices.Equal(h.Certificates, []string{filepath.Join(r.home, "certs/matched-cert.pub")}) {
		// ssh expands ~ from the password database, deptool from the
		// resolver's home: both name the operator's home.
		if len(h.Certificates) != 1 || !strings.HasSuffix(h.Certificates[0], "/certs/matched-cert.pub") {
			t.Errorf("certificates = %q", h.Certificates)
		}
	}
	if !h.DefaultIdentity {
		t.Errorf("no IdentityFile given, but the identities are not OpenSSH's defaults: %q", h.Identities)
	}
}

func TestSSHGDefaultsAreNotUnsupported(t *testing.T) {
	// Options deptool ignores, and unsupported ones at their defaults,
	// pass; each unsupported one set is refused by name.
	r := gResolver(t, `
Host ok
  ControlMaster auto
  ControlPath /tmp/cm-%C
  ForwardAgent yes
  SendEnv LANG
  Tunnel no
  PermitLocalCommand no
  LocalCommand echo hi
Host tunnel
  Tunnel yes
Host local
  PermitLocalCommand yes
  LocalCommand echo hi
Host cipher
  Ciphers aes128-ctr
Host md5
  MACs +hmac-md5
Host canon
  CanonicalizeHostname yes
Host bind
  BindAddress 127.0.0.1
`)
	if _, err := r.hop("ok"); err != nil {
		t.Errorf("ok: %v", err)
	}
	// A restricted list is honoured, not refused.
	if h, err := r.hop("cipher"); err != nil || !slices.Equal(h.Algorithms["ciphers"], []string{"aes128-ctr"}) || h.Algorithms["macs"] != nil {
		t.Errorf("cipher: %v, %v", h, err)
	}
	for host, option := range map[string]string{
		"tunnel": "Tunnel", "local": "LocalCommand", "md5": "MACs",
		"canon": "CanonicalizeHostname", "bind": "BindAddress",
	} {
		_, err := r.hop(host)
		var uo *UnsupportedOptionError
		if !errors.As(err, &uo) || uo.Option != option || uo.Host != host {
			t.Errorf("%s: %v, want %s refused", host, err, option)
		}
	}
}

func TestSSHGErrorIsOpenSSHs(t *testing.T) {
	r := gResolver(t, "Host x\n  NoSuchOption 1\n")
	_, err := r.hop("x")
	if err == nil || err.Error() != "host x: ssh -G: "+r.file+": line 2: Bad configuration option: nosuchoption" {
		t.Errorf("bad config: %v", err)
	}
}

func TestConfigReaderHonoursTheNewOptions(t *testing.T) {
	r := testResolver(t, `
Host web1
  HostName 10.1.2.3
  ProxyCommand nc %h %p
  HostKeyAlias web1-key
  IdentityAgent none
  GlobalKnownHostsFile /etc/kh
Host both
  ProxyJump a
  ProxyCommand nc %h %p
Host fd
  ProxyUseFdpass yes
`)
	h, err := r.hop("web1")
	if err != nil {
		t.Fatal(err)
	}
	if h.ProxyCommand != "nc 10.1.2.3 22" || h.HostKeyAlias != "web1-key" || !h.AgentSet || h.Agent != "" || !slices.Equal(h.GlobalKnown, []string{"/etc/kh"}) {
		t.Errorf("hop = %+v", h)
	}
	if _, err := r.hop("both"); err == nil || !strings.Contains(err.Error(), "sets both ProxyJump and ProxyCommand") {
		t.Errorf("both: %v", err)
	}
	var uo *UnsupportedOptionError
	if _, err := r.hop("fd"); !errors.As(err, &uo) || uo.Option != "ProxyUseFdpass" {
		t.Errorf("fd: %v", err)
	}
}

// BenchmarkResolve is one host's resolution, uncached: OpenSSH's `ssh -G`
// against deptool's own reader of the same file.
//
//	go test -run '^$' -bench Resolve ./deploy/transport/
func BenchmarkResolve(b *testing.B) {
	cfg := "Host web*\n  HostName %h.example.net\n  User deploy\n  IdentityFile ~/.ssh/deploy\n"
	file := filepath.Join(b.TempDir(), "ssh_config")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("ssh -G", func(b *testing.B) {
		bin := lookSSH()
		if bin == "" {
			b.Skip("no ssh client")
		}
		for b.Loop() {
			if _, err := runSSHG(bin, []string{"-G", "-F", file, "--", "web1"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reader", func(b *testing.B) {
		c, _, err := loadConfig(file, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		r := &resolver{cfg: c, file: file, home: "/home/x", localUser: "x"}
		for b.Loop() {
			if _, err := r.hop("web1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
