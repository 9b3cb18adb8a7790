package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
	"github.com/deptool/deptool/store"
	"golang.org/x/crypto/ssh"
)

// newKeyFile writes a fresh ed25519 private key to dir/name and returns
// its signer.
func newKeyFile(t *testing.T, dir, name string) ssh.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(k, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func authorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// An operator who logs in with an SSH certificate signs deploys with it,
// and a host whose authorized_keys trusts only the certificate's
// authority (a cert-authority line) verifies the deploy through it. The
// same key signing without its certificate is refused: the authority is
// what allows it.
func TestCertificateLoginDeploysVerifyThroughCertAuthority(t *testing.T) {
	l := lab.StartFresh(t, "a1")
	dir := t.TempDir()
	ca := newKeyFile(t, dir, "ca")
	user := newKeyFile(t, dir, "id_user")
	now := time.Now()
	cert := &ssh.Certificate{
		Key: user.PublicKey(), CertType: ssh.UserCert, KeyId: "ann",
		ValidPrincipals: []string{"root"},
		ValidAfter:      uint64(now.Add(-time.Hour).Unix()), ValidBefore: uint64(now.Add(time.Hour).Unix()),
		Permissions: ssh.Permissions{Extensions: map[string]string{"permit-pty": ""}},
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "id_user-cert.pub"), ssh.MarshalAuthorizedKey(cert), 0o644); err != nil {
		t.Fatal(err)
	}
	// a1's root trusts the authority; the lab's own key stays for the
	// test's own access.
	onHost(t, l, "a1", "echo 'cert-authority "+authorizedLine(ca.PublicKey())+"' >> /root/.ssh/authorized_keys")
	labKey := filepath.Join(l.StateDir(), "id_ed25519")
	cfg, err := os.ReadFile(l.SSHConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "IdentityFile "+labKey+"\n") {
		t.Fatalf("the lab's ssh_config does not name %s:\n%s", labKey, cfg)
	}
	userCfg := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(userCfg, []byte(strings.ReplaceAll(string(cfg), "IdentityFile "+labKey+"\n", "IdentityFile "+filepath.Join(dir, "id_user")+"\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	op := newOperator(t, l)
	op.env = append(op.env, "DEPTOOL_SSH_CONFIG="+userCfg, "SSH_AUTH_SOCK=")

	op.write(map[string]string{"a1/site/index.html": "v1\n"})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("deploy with a certificate login exited %d:\n%s", code, out)
	}
	if got := onHost(t, l, "a1", "cat /var/lib/deptool/apps/site/current/index.html"); got != "v1" {
		t.Fatalf("a1 runs %q", got)
	}
	s, err := store.Open(filepath.Join(op.root, ".deptool"))
	if err != nil {
		t.Fatal(err)
	}
	main, _, err := s.Main()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := s.CommitSignature(main)
	if c, ok := pub.(*ssh.Certificate); err != nil || !ok || ssh.FingerprintSHA256(c.SignatureKey) != ssh.FingerprintSHA256(ca.PublicKey()) {
		t.Fatalf("the deploy is signed by %T %v (%v); want the certificate the authority signed", pub, pub, err)
	}

	// The same key, without its certificate: a1 allows no such key.
	op.write(map[string]string{"a1/site/index.html": "v2\n"})
	op.env = append(op.env, "DEPTOOL_SIGNING_KEY="+filepath.Join(dir, "id_user"))
	out, code := op.run("deploy", "--yes")
	if code == 0 || !strings.Contains(out, ssh.FingerprintSHA256(user.PublicKey())) || !strings.Contains(out, "may not deploy to a1") {
		t.Errorf("a deploy signed without the certificate exited %d:\n%s", code, out)
	}
	if got := onHost(t, l, "a1", "cat /var/lib/deptool/apps/site/current/index.html"); got != "v1" {
		t.Errorf("a1 runs %q after the refused deploy", got)
	}
}

// A key rotation is a deploy: an app links /etc/deptool/allowed_signers
// listing a new key; from then on a1 takes deploys signed by the new key
// and refuses the old one's, though the old key still logs in. The store
// takes the new key through 'deptool signers add'.
func TestKeyRotationByADeploy(t *testing.T) {
	l := lab.StartFresh(t, "a1")
	dir := t.TempDir()
	next := newKeyFile(t, dir, "next")
	labKey := filepath.Join(l.StateDir(), "id_ed25519")
	oldPub, err := os.ReadFile(labKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	old, _, _, _, err := ssh.ParseAuthorizedKey(oldPub)
	if err != nil {
		t.Fatal(err)
	}
	op := newOperator(t, l)
	op.env = append(op.env, "SSH_AUTH_SOCK=")
	op.write(map[string]string{
		"a1/site/index.html":       "v1\n",
		"a1/trust/allowed_signers": "next@laptop namespaces=\"git\" " + authorizedLine(next.PublicKey()) + "\n",
		"a1/trust/manifest.json":   `{"symlinks": {"/etc/deptool/allowed_signers": "allowed_signers"}}`,
	})
	// Signed by the key a1's authorized_keys allows: the rotation itself.
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("the rotating deploy exited %d:\n%s", code, out)
	}
	if got := onHost(t, l, "a1", "cat /etc/deptool/allowed_signers"); !strings.Contains(got, authorizedLine(next.PublicKey())) {
		t.Fatalf("a1's allowed signers: %q", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "next.pub"), []byte(authorizedLine(next.PublicKey())+" next@laptop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	signWith := func(key string) []string { return append(append([]string(nil), op.env...), "DEPTOOL_SIGNING_KEY="+key) }
	base := op.env
	op.env = signWith(labKey)
	if out, code := op.run("signers", "add", filepath.Join(dir, "next.pub")); code != 0 || !strings.Contains(out, ssh.FingerprintSHA256(next.PublicKey())) {
		t.Fatalf("signers add exited %d:\n%s", code, out)
	}

	// The old key, which still logs in: refused.
	op.env = base
	op.write(map[string]string{"a1/site/index.html": "v2\n"})
	out, code := op.run("deploy", "--yes")
	if code == 0 || !strings.Contains(out, ssh.FingerprintSHA256(old)) || !strings.Contains(out, "may not deploy to a1") {
		t.Errorf("a deploy signed by the rotated-out key exited %d:\n%s", code, out)
	}
	if got := onHost(t, l, "a1", "cat /var/lib/deptool/apps/site/current/index.html"); got != "v1" {
		t.Fatalf("a1 runs %q after the old key's deploy", got)
	}
	// The new key: taken.
	op.env = signWith(filepath.Join(dir, "next"))
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("a deploy signed by the new key exited %d:\n%s", code, out)
	}
	if got := onHost(t, l, "a1", "cat /var/lib/deptool/apps/site/current/index.html"); got != "v2" {
		t.Errorf("a1 runs %q after the new key's deploy", got)
	}
	if out, code := op.run("status"); code != 0 || strings.Contains(out, "not verified") {
		t.Errorf("status after the rotation exited %d:\n%s", code, out)
	}
}
