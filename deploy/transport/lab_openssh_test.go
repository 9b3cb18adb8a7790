package transport

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
)

// These tests prove that an operator's OpenSSH setup works as it does
// with ssh itself: each config is also checked with the real ssh client
// where that is cheap, so the test cannot pass on a config OpenSSH
// would not accept.

// hostKeyLine is host's key from the lab's known_hosts ("TYPE BASE64").
func hostKeyLine(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	_, known := labFiles(t, l)
	b, err := os.ReadFile(known)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		names, key, _ := strings.Cut(line, " ")
		if strings.HasPrefix(names, l.Addr(host)+",") {
			return key
		}
	}
	t.Fatalf("no key for %s in %s", host, known)
	return ""
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// sshOK runs the real OpenSSH client with the same config.
func sshOK(t *testing.T, opts Options, host string) {
	t.Helper()
	cmd := exec.Command("ssh", "-F", opts.ConfigFile, "-o", "BatchMode=yes", host, "true")
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("OpenSSH itself cannot reach %s with this config: %v: %s", host, err, out)
	}
}

func runHostname(t *testing.T, c *Conn, want string) {
	t.Helper()
	out, err := c.Run(labCtx(t), "cat /etc/hostname", nil)
	if err != nil || string(out) != want+"\n" {
		t.Errorf("%s: hostname = %q, %v; want %s", c.Host(), out, err, want)
	}
}

// unroutable is inside the lab's range, where nothing answers (and the
// lab's unreachable route keeps packets from leaving the machine).
const unroutable = "198.18.255.254"

func TestLabProxyCommand(t *testing.T) {
	l := lab.Start(t, "web1")
	// The host's key is filed under the name deptool asks for, the
	// unroutable HostName, as OpenSSH files it.
	known := writeFile(t, "known_hosts", unroutable+" "+hostKeyLine(t, l, "web1")+"\n")
	marker := filepath.Join(t.TempDir(), "tokens")
	stranger := filepath.Join(t.TempDir(), "id_ed25519")
	writeKey(t, stranger, "")
	unknownKH := writeFile(t, "known_hosts_empty", "")
	opts := writeConfig(t,
		// %h %p %r %n expanded: the command records them, then connects.
		hostBlock(t, l, "behind", "web1",
			"HostName "+unroutable,
			"UserKnownHostsFile "+known,
			"ProxyCommand sh -c 'echo %h %p %r %n > "+marker+"; exec nc "+l.Addr("web1")+" %p'"),
		hostBlock(t, l, "stranger", "web1",
			"HostName "+unroutable,
			"UserKnownHostsFile "+known,
			"IdentityFile "+stranger,
			"ProxyCommand nc "+l.Addr("web1")+" %p"),
		hostBlock(t, l, "behind-unknown", "web1",
			"HostName "+unroutable,
			"UserKnownHostsFile "+unknownKH,
			"ProxyCommand nc "+l.Addr("web1")+" %p"),
		hostBlock(t, l, "hanging", "web1",
			"HostName "+unroutable,
			"UserKnownHostsFile "+known,
			"ConnectTimeout 1",
			"ProxyCommand sh -c 'echo waiting for MFA >&2; exec sleep 30'"),
		hostBlock(t, l, "broken", "web1",
			"HostName "+unroutable,
			"UserKnownHostsFile "+known,
			"ProxyCommand sh -c 'echo bastion says no >&2; exit 3'"),
	)
	sshOK(t, opts, "behind")
	c := dialLab(t, "behind", opts)
	runHostname(t, c, "web1")
	if b, _ := os.ReadFile(marker); string(b) != unroutable+" 22 root behind\n" {
		t.Errorf("ProxyCommand tokens expanded to %q, want %q", b, unroutable+" 22 root behind")
	}
	c.Close()

	// An unknown key behind a proxy: ssh-keyscan cannot go through it, so
	// the instruction uses OpenSSH itself, and works.
	_, err := Dial(labCtx(t), "behind-unknown", opts)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Changed() {
		t.Fatalf("unknown key behind a ProxyCommand: %v", err)
	}
	record := instruction(t, err.Error(), "then record it with: ", " (or set")
	if record != "ssh -o StrictHostKeyChecking=accept-new -F "+opts.ConfigFile+" behind-unknown true" {
		t.Errorf("instruction: %s", record)
	}
	cmd := exec.Command("sh", "-c", record)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", record, err, out)
	}
	runHostname(t, dialLab(t, "behind-unknown", opts), "web1")

	// A refused login through a working proxy is a refused login.
	_, err = Dial(labCtx(t), "stranger", opts)
	if err == nil || !strings.HasPrefix(err.Error(), "host stranger: login as root refused (tried: "+stranger+")") {
		t.Errorf("login refused through a ProxyCommand: %v", err)
	}

	// A helper that hangs is given up at ConnectTimeout, with its words.
	_, err = Dial(labCtx(t), "hanging", opts)
	if want := "host hanging (" + unroutable + ":22 through ProxyCommand): ssh handshake: no answer within 1s (ConnectTimeout): is the host up?; the ProxyCommand said: waiting for MFA"; err == nil || err.Error() != want {
		t.Errorf("hanging ProxyCommand:\n got %v\nwant %s", err, want)
	}

	_, err = Dial(labCtx(t), "broken", opts)
	want := "host broken (" + unroutable + ":22 through ProxyCommand): ProxyCommand failed (exit status 3): bastion says no; the command: sh -c 'echo bastion says no >&2; exit 3'"
	if err == nil || err.Error() != want {
		t.Errorf("failing ProxyCommand:\n got %v\nwant %s", err, want)
	}
}

func TestLabHostKeyAlias(t *testing.T) {
	l := lab.Start(t, "web1")
	known := writeFile(t, "known_hosts", "web1-key "+hostKeyLine(t, l, "web1")+"\n")
	opts := writeConfig(t,
		hostBlock(t, l, "aliased", "web1", "HostKeyAlias web1-key", "UserKnownHostsFile "+known),
		hostBlock(t, l, "new-alias", "web1", "HostKeyAlias other-key", "UserKnownHostsFile "+known, "Port 22"),
	)
	sshOK(t, opts, "aliased")
	runHostname(t, dialLab(t, "aliased", opts), "web1")

	// A key not yet filed under its alias: the instruction files it there,
	// and then both deptool and OpenSSH find it.
	_, err := Dial(labCtx(t), "new-alias", opts)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Changed() {
		t.Fatalf("unknown key under an alias: %v", err)
	}
	scan := instruction(t, err.Error(), "then run: ", " (or set")
	if out, err := exec.Command("sh", "-c", scan).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", scan, err, out)
	}
	runHostname(t, dialLab(t, "new-alias", opts), "web1")
	sshOK(t, opts, "new-alias")
}

// A Match block, in an Included file, holds everything that makes the
// host reachable: only OpenSSH's own resolution gets it right.
func TestLabMatchAndInclude(t *testing.T) {
	l := lab.Start(t, "web1")
	identity, known := labFiles(t, l)
	inc := writeFile(t, "matched.conf", "Match host "+l.Addr("web1")+" user root\n"+
		"  IdentityFile "+identity+"\n  IdentitiesOnly yes\n"+
		"  UserKnownHostsFile "+known+"\n  StrictHostKeyChecking yes\n")
	opts := writeConfig(t, "Host matched\n  HostName "+l.Addr("web1")+"\n  User root\n\nInclude "+inc+"\n")
	sshOK(t, opts, "matched")
	runHostname(t, dialLab(t, "matched", opts), "web1")

	// Without ssh, deptool's own reader knows no Match: the host is not
	// reached (which is why ssh -G is asked wherever there is an ssh).
	defer func(b string) { sshBinary = b }(sshBinary)
	sshBinary = ""
	if c, err := Dial(labCtx(t), "matched", opts); err == nil {
		c.Close()
		t.Errorf("the config reader reached a host configured only in a Match block")
	}
}

func TestLabUnsupportedOptionRefusedByName(t *testing.T) {
	l := lab.Start(t, "web1")
	opts := writeConfig(t,
		hostBlock(t, l, "fdpass", "web1", "ProxyCommand nc %h %p", "ProxyUseFdpass yes"),
		hostBlock(t, l, "remote", "web1", "RemoteCommand uptime"),
		hostBlock(t, l, "md5", "web1", "MACs +hmac-md5"),
		hostBlock(t, l, "fine", "web1", "ControlMaster auto", "ControlPath ~/.ssh/cm-%C", "ForwardAgent yes", "LogLevel QUIET"),
	)
	for _, path := range []struct{ name, bin string }{{"ssh -G", sshBinary}, {"config reader", ""}} {
		t.Run(path.name, func(t *testing.T) {
			defer func(b string) { sshBinary = b }(sshBinary)
			sshBinary = path.bin
			for _, tc := range []struct{ host, option string }{
				{"fdpass", "ProxyUseFdpass yes"},
				{"remote", "RemoteCommand uptime"},
				{"md5", "MACs "},
			} {
				_, err := Dial(labCtx(t), tc.host, opts)
				var uo *UnsupportedOptionError
				if !errors.As(err, &uo) || !strings.HasPrefix(err.Error(), "host "+tc.host+": ssh config "+opts.ConfigFile+" sets "+tc.option) ||
					!strings.HasSuffix(err.Error(), ", which deptool does not support (see docs/ssh.md): remove it for this host") || strings.Count(err.Error(), "\n") > 0 {
					t.Errorf("%s: %v", tc.host, err)
				}
			}
			runHostname(t, dialLab(t, "fine", opts), "web1")
		})
	}
}

// Restricted algorithm lists are honoured: a list deptool and the host
// share connects; a host key list that excludes the host's key type is
// refused before connecting.
func TestLabAlgorithmListsHonoured(t *testing.T) {
	l := lab.Start(t, "web1")
	opts := writeConfig(t,
		hostBlock(t, l, "hardened", "web1", "KexAlgorithms diffie-hellman-group14-sha256", "Ciphers aes256-gcm@openssh.com", "MACs hmac-sha2-512-etm@openssh.com"),
		hostBlock(t, l, "rsa-only", "web1", "HostKeyAlgorithms rsa-sha2-512"),
	)
	sshOK(t, opts, "hardened")
	runHostname(t, dialLab(t, "hardened", opts), "web1")
	_, err := Dial(labCtx(t), "rsa-only", opts)
	if err == nil || err.Error() != "host rsa-only ("+l.Addr("web1")+":22): HostKeyAlgorithms allows none of ssh-ed25519, the host key types deptool would accept for it (from known_hosts)" {
		t.Errorf("rsa-only: %v", err)
	}
}

// keygen runs ssh-keygen, the tool operators make keys and certificates
// with.
func keygen(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func readString(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// sshdConfig adds a drop-in to the host's sshd and restarts it; sessions
// already open survive, as sshd's KillMode is process.
func sshdConfig(t *testing.T, l *lab.Lab, host, conf string) {
	t.Helper()
	mustExec(t, l, host, "sh", "-c", `printf '%s\n' "$1" > /etc/ssh/sshd_config.d/deptool-test.conf && sshd -t && systemctl restart ssh`, "sh", conf)
}

func TestLabCertificates(t *testing.T) {
	l := lab.StartFresh(t, "certs")
	dir := t.TempDir()
	addr := l.Addr("certs")

	// Host: a certificate for its ed25519 key, signed by a host CA.
	keygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "host-ca", "-f", dir+"/host_ca")
	hostPub := mustExec(t, l, "certs", "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
	writeFileAt(t, dir+"/host.pub", hostPub)
	keygen(t, "-q", "-s", dir+"/host_ca", "-I", "certs", "-h", "-n", addr+",certs", dir+"/host.pub")
	mustExec(t, l, "certs", "sh", "-c", `printf '%s\n' "$1" > /etc/ssh/ssh_host_ed25519_key-cert.pub`, "sh", readString(t, dir+"/host-cert.pub"))

	// User: a key no authorized_keys holds, certified for root by a user
	// CA the host trusts.
	keygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "user-ca", "-f", dir+"/user_ca")
	keygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "operator", "-f", dir+"/operator")
	keygen(t, "-q", "-s", dir+"/user_ca", "-I", "operator", "-n", "root", dir+"/operator.pub")
	// Kept apart from the key, so only CertificateFile finds it.
	if err := os.Rename(dir+"/operator-cert.pub", dir+"/operator.cert"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, l, "certs", "sh", "-c", `printf '%s\n' "$1" > /etc/ssh/deptool_user_ca.pub`, "sh", readString(t, dir+"/user_ca.pub"))
	sshdConfig(t, l, "certs", "HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub\nTrustedUserCAKeys /etc/ssh/deptool_user_ca.pub")

	caLine := "@cert-authority " + addr + ",certs " + readString(t, dir+"/host_ca.pub") + "\n"
	caOnly := writeFile(t, "known_ca", caLine)
	revokedHost := writeFile(t, "known_revoked", caLine+"@revoked * "+hostKeyLine(t, l, "certs")+"\n")
	otherCA := writeFile(t, "known_other", "@cert-authority 198.18.255.* "+readString(t, dir+"/host_ca.pub")+"\n")
	opts := writeConfig(t,
		hostBlock(t, l, "ca-trusted", "certs", "UserKnownHostsFile "+caOnly),
		hostBlock(t, l, "revoked", "certs", "UserKnownHostsFile "+revokedHost),
		hostBlock(t, l, "other-ca", "certs", "UserKnownHostsFile "+otherCA),
		hostBlock(t, l, "user-cert", "certs", "IdentityFile "+dir+"/operator", "CertificateFile "+dir+"/operator.cert"),
		hostBlock(t, l, "no-cert", "certs", "IdentityFile "+dir+"/operator"),
		hostBlock(t, l, "agent-cert", "certs", "IdentityFile "+dir+"/absent", "IdentitiesOnly no"),
	)

	t.Run("host certificate", func(t *testing.T) {
		sshOK(t, opts, "ca-trusted")
		runHostname(t, dialLab(t, "ca-trusted", opts), "certs")
		_, err := Dial(labCtx(t), "revoked", opts)
		if err == nil || !strings.HasPrefix(err.Error(), "host revoked ("+addr+":22): key ssh-ed25519 ") ||
			!strings.HasSuffix(err.Error(), " is marked @revoked in "+revokedHost+":2: refusing to connect") {
			t.Errorf("host key revoked: %v", err)
		}
		// A CA for other hosts vouches for nothing here: the host is
		// unknown, with the usual instruction.
		_, err = Dial(labCtx(t), "other-ca", opts)
		var hke *HostKeyError
		if !errors.As(err, &hke) || hke.Changed() {
			t.Errorf("CA for other hosts: %v", err)
		}
	})
	t.Run("user certificate", func(t *testing.T) {
		sshOK(t, opts, "user-cert")
		runHostname(t, dialLab(t, "user-cert", opts), "certs")
		_, err := Dial(labCtx(t), "no-cert", opts)
		if err == nil || !strings.HasPrefix(err.Error(), "host no-cert: login as root refused (tried: "+dir+"/operator)") {
			t.Errorf("the key without its certificate: %v", err)
		}
		// OpenSSH's other place for it: next to the key.
		if err := os.Rename(dir+"/operator.cert", dir+"/operator-cert.pub"); err != nil {
			t.Fatal(err)
		}
		runHostname(t, dialLab(t, "no-cert", opts), "certs")
	})
	t.Run("certificate in the agent", func(t *testing.T) {
		keygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "agent-op", "-f", dir+"/agentop")
		keygen(t, "-q", "-s", dir+"/user_ca", "-I", "agent-op", "-n", "root", dir+"/agentop.pub")
		sock := filepath.Join(t.TempDir(), "agent.sock")
		agent := exec.Command("ssh-agent", "-D", "-a", sock)
		if err := agent.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
		var err error
		for i := 0; i < 200; i++ {
			// ssh-add loads the key and, next to it, its certificate.
			add := exec.Command("ssh-add", dir+"/agentop")
			add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
			var out []byte
			if out, err = add.CombinedOutput(); err == nil {
				break
			} else if i == 199 {
				t.Fatalf("ssh-add: %v: %s", err, out)
			}
			time.Sleep(10 * time.Millisecond)
		}
		withAgent := opts
		withAgent.NoAgent, withAgent.AgentSocket = false, sock
		runHostname(t, dialLab(t, "agent-cert", withAgent), "certs")
	})
}

func writeFileAt(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
