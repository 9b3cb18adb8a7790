package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
	"golang.org/x/crypto/ssh"
)

// A deploy from a fresh store is signed with the key the operator logs in
// with, stock git verifies it, and a host refuses a deploy signed by a
// key that may not log in there, naming it, with nothing changed.
func TestSignedDeploysAreCheckedByHosts(t *testing.T) {
	l := lab.StartFresh(t, "a1")
	op := newOperator(t, l)
	op.write(map[string]string{"a1/site/index.html": "v1\n"})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("signed deploy exited %d:\n%s", code, out)
	}

	pub, err := os.ReadFile(filepath.Join(l.StateDir(), "id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(allowed, append([]byte("lab "), pub...), 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(op.root, ".deptool")
	out, err := exec.Command("git", "--git-dir", store, "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile="+allowed,
		"verify-commit", "main").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `Good "git" signature for lab`) {
		t.Errorf("git verify-commit main: %v\n%s", err, out)
	}
	if out, err := exec.Command("git", "--git-dir", store, "fsck", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck --strict: %v\n%s", err, out)
	}

	// Another key, not in a1's authorized_keys.
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(k, "")
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(k)
	op.write(map[string]string{"a1/site/index.html": "pwned\n"})
	op.env = append(op.env, "DEPTOOL_SIGNING_KEY="+other)
	out2, code := op.run("deploy", "--yes")
	if code == 0 || !strings.Contains(out2, ssh.FingerprintSHA256(signer.PublicKey())) || !strings.Contains(out2, "may not deploy to a1") {
		t.Errorf("deploy signed by a key a1 does not allow exited %d:\n%s", code, out2)
	}
	if got := onHost(t, l, "a1", "cat /var/lib/deptool/apps/site/current/index.html"); got != "v1" {
		t.Errorf("a1 runs %q after a refused deploy", got)
	}
}
