package transport

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func newHostKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func knownLine(addr string, k ssh.PublicKey) string {
	return addr + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + "\n"
}

var web1Remote = &net.TCPAddr{IP: net.ParseIP("198.18.1.2"), Port: 22}

// checkKey runs the host key check for web1 (198.18.1.2:22) as the SSH
// handshake would, against the given known_hosts content.
func checkKey(t *testing.T, strict strictness, known string, key ssh.PublicKey) (*hostKeys, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "known_hosts")
	if known != "" {
		if err := os.WriteFile(file, []byte(known), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h := &hop{Alias: "web1", HostName: "198.18.1.2", Port: 22, KnownHosts: []string{file}, Strict: strict}
	k, err := loadHostKeys(h, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	return k, k.callback("198.18.1.2:22", web1Remote, key)
}

func TestKnownKeyAccepted(t *testing.T) {
	key := newHostKey(t)
	if k, err := checkKey(t, strictYes, knownLine("198.18.1.2,web1", key), key); err != nil || !k.wasVerified() {
		t.Fatalf("known key: %v", err)
	}
}

func TestUnknownKeyRefusedWithInstructions(t *testing.T) {
	key := newHostKey(t)
	other := knownLine("198.18.9.9", newHostKey(t))
	k, err := checkKey(t, strictYes, other, key)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Changed() {
		t.Fatalf("got %v, want an unknown-key HostKeyError", err)
	}
	want := "198.18.1.2:22: unknown host key " + ssh.FingerprintSHA256(key) +
		"; verify it, then run: ssh-keyscan -t ed25519 198.18.1.2 >> " + k.hop.KnownHosts[0] +
		" (or set StrictHostKeyChecking accept-new)"
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
}

func TestUnknownKeyWithoutAnyKnownHostsFile(t *testing.T) {
	_, err := checkKey(t, strictYes, "", newHostKey(t))
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Changed() {
		t.Fatalf("got %v, want an unknown-key HostKeyError", err)
	}
}

func TestChangedKeyRefusedLoudly(t *testing.T) {
	old, key := newHostKey(t), newHostKey(t)
	k, err := checkKey(t, strictAcceptNew, knownLine("198.18.1.2", old), key)
	var hke *HostKeyError
	if !errors.As(err, &hke) || !hke.Changed() {
		t.Fatalf("got %v, want a changed-key HostKeyError (even under accept-new)", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"198.18.1.2:22: THE HOST KEY HAS CHANGED",
		ssh.FingerprintSHA256(key), ssh.FingerprintSHA256(old),
		k.hop.KnownHosts[0] + ":1",
		"refusing to connect; if the host was reinstalled, remove the old key with: ssh-keygen -R 198.18.1.2 -f " + k.hop.KnownHosts[0],
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestAcceptNewAppendsAndThenKnows(t *testing.T) {
	key := newHostKey(t)
	// No final newline: the added line must not be glued to it.
	k, err := checkKey(t, strictAcceptNew, strings.TrimSpace(knownLine("198.18.9.9", newHostKey(t))), key)
	if err != nil {
		t.Fatalf("accept-new: %v", err)
	}
	b, _ := os.ReadFile(k.hop.KnownHosts[0])
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[1] != strings.TrimSpace(knownLine("198.18.1.2", key)) {
		t.Fatalf("known_hosts after accept-new:\n%s", b)
	}
	k2, err := loadHostKeys(k.hop, nil)
	if err != nil {
		t.Fatal(err)
	}
	k2.hop.Strict = strictYes
	if err := k2.callback("198.18.1.2:22", web1Remote, key); err != nil {
		t.Errorf("key added by accept-new is not known afterwards: %v", err)
	}
}

func TestStrictNoAcceptsOnlyUnknownKeys(t *testing.T) {
	if _, err := checkKey(t, strictNo, knownLine("198.18.9.9", newHostKey(t)), newHostKey(t)); err != nil {
		t.Errorf("StrictHostKeyChecking no, unknown host: %v", err)
	}
	var hke *HostKeyError
	if _, err := checkKey(t, strictNo, knownLine("198.18.1.2", newHostKey(t)), newHostKey(t)); !errors.As(err, &hke) || !hke.Changed() {
		t.Errorf("StrictHostKeyChecking no, changed key: got %v, want a changed-key HostKeyError", err)
	}
	key := newHostKey(t)
	if _, err := checkKey(t, strictNo, "@revoked "+knownLine("198.18.1.2", key), key); err == nil || !strings.Contains(err.Error(), "@revoked") {
		t.Errorf("StrictHostKeyChecking no, revoked key: got %v", err)
	}
}

func TestKnownAlgorithmsPreferred(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ssh.NewPublicKey(&ec.PublicKey)
	file := filepath.Join(t.TempDir(), "known_hosts")
	// The ECDSA key comes first in the file; ed25519 must still lead.
	os.WriteFile(file, []byte(knownLine("198.18.1.2", ecKey)+knownLine("198.18.1.2", newHostKey(t))), 0o600)
	h := &hop{Alias: "web1", HostName: "198.18.1.2", Port: 22, KnownHosts: []string{file}}
	k, err := loadHostKeys(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256}
	if got := k.algorithms(); !slices.Equal(got, want) {
		t.Errorf("algorithms for a host known by ECDSA and ed25519 keys = %q, want %q", got, want)
	}
	h.HostName = "198.18.7.7"
	k, _ = loadHostKeys(h, nil)
	// Plain keys only: a certificate could not be checked, and would hide
	// the key's fingerprint the operator needs.
	if got := k.algorithms(); got[0] != ssh.KeyAlgoED25519 || slices.ContainsFunc(got, func(a string) bool { return strings.Contains(a, "-cert-") }) {
		t.Errorf("algorithms for an unknown host = %q, want ed25519 first and no certificates", got)
	}
}

func TestHostKeyErrorBehindJumpAndOnOtherPort(t *testing.T) {
	key := newHostKey(t)
	e := &HostKeyError{Host: "web2", Addr: "198.18.2.2:2222", Via: "web1", Key: key, File: "/k h", sshCmd: "ssh -F /lab/ssh_config web1"}
	want := "198.18.2.2:2222 via web1: unknown host key " + ssh.FingerprintSHA256(key) +
		"; verify it, then run: ssh -F /lab/ssh_config web1 ssh-keyscan -p 2222 -t ed25519 198.18.2.2 >> '/k h' (or set StrictHostKeyChecking accept-new)"
	if e.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", e, want)
	}
}
