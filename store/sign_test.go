package store

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func testSigner(t testing.TB, kind string) ssh.Signer {
	t.Helper()
	var key any
	var err error
	switch kind {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Stock git, given the key in an allowed-signers file, verifies the
// deploy commits the store signs: the signature is Git's own.
func TestSignedCommitVerifiesWithGit(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("git verifies SSH signatures with ssh-keygen, which is not installed")
	}
	for _, kind := range []string{"ed25519", "rsa", "ecdsa"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Init(filepath.Join(dir, "store"))
			if err != nil {
				t.Fatal(err)
			}
			signer := testSigner(t, kind)
			blob, _ := s.WriteBlob([]byte("x\n"))
			tree, _ := s.WriteTree([]Entry{{Name: "f", Mode: ModeFile, ID: blob}})
			when := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
			var id ID
			for i := range 2 { // the second has a parent
				if id, err = s.CommitSigned(tree, "deploy to a1\n", "ann@laptop", when.Add(time.Duration(i)*time.Second), SignerFunc(signer)); err != nil {
					t.Fatal(err)
				}
			}
			allowed := filepath.Join(dir, "allowed_signers")
			line := "ann@laptop " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + "\n"
			if err := os.WriteFile(allowed, []byte(line), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("git", "--git-dir", s.Path(), "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile="+allowed,
				"verify-commit", "-v", id.String()).CombinedOutput()
			if err != nil {
				t.Fatalf("git verify-commit: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), `Good "git" signature for ann@laptop`) {
				t.Errorf("git verify-commit says:\n%s", out)
			}
			if out, err := exec.Command("git", "--git-dir", s.Path(), "fsck", "--strict").CombinedOutput(); err != nil {
				t.Errorf("git fsck --strict: %v\n%s", err, out)
			}
			pub, err := s.CommitSignature(id)
			if err != nil || pub == nil || ssh.FingerprintSHA256(pub) != ssh.FingerprintSHA256(signer.PublicKey()) {
				t.Errorf("CommitSignature = %v, %v; want the signer's key", pub, err)
			}
		})
	}
}

// Signatures ssh-keygen makes (as `git commit -S` does) verify here: the
// format is read as OpenSSH writes it, not only as we write it.
func TestVerifySSHKeygenSignature(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed")
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	msg := filepath.Join(dir, "msg")
	os.WriteFile(msg, []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"), 0o644)
	if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-n", "git", "-f", key, msg).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	sig, _ := os.ReadFile(msg + ".sig")
	data, _ := os.ReadFile(msg)
	if _, err := VerifySSH(sig, GitNamespace, data); err != nil {
		t.Errorf("ssh-keygen's signature: %v", err)
	}
	if _, err := VerifySSH(sig, GitNamespace, append(data, 'x')); err == nil {
		t.Error("a signature verified for a changed message")
	}
	if _, err := VerifySSH(sig, "file", data); err == nil {
		t.Error("a signature verified in another namespace")
	}
}

type failingSigner struct{ ssh.Signer }

func (failingSigner) Sign(io.Reader, []byte) (*ssh.Signature, error) {
	return nil, errors.New("agent refused operation")
}

// A key that cannot sign leaves the store as it was: no commit, main put.
func TestCommitSignedFailureCommitsNothing(t *testing.T) {
	s := OpenMemory()
	tree, _ := s.WriteTree(nil)
	first, err := s.Commit(tree, "first\n", "ann@laptop", time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	bad := failingSigner{testSigner(t, "ed25519")}
	_, err = s.CommitSigned(tree, "second\n", "ann@laptop", time.Unix(2, 0), func(p []byte) ([]byte, error) {
		return SignSSH(bad, GitNamespace, p)
	})
	if err == nil || !strings.Contains(err.Error(), "agent refused operation") || !strings.Contains(err.Error(), "nothing was committed") {
		t.Fatalf("err = %v; want the agent's refusal and that nothing was committed", err)
	}
	if main, _, _ := s.Main(); main != first {
		t.Errorf("main moved to %s", main)
	}
}

// An unsigned commit has no signature; a commit whose payload was
// changed after signing does not verify.
func TestCommitSignatureUnsignedAndTampered(t *testing.T) {
	s := OpenMemory()
	tree, _ := s.WriteTree(nil)
	id, _ := s.Commit(tree, "plain\n", "ann@laptop", time.Unix(1, 0))
	if pub, err := s.CommitSignature(id); pub != nil || err != nil {
		t.Errorf("unsigned commit: %v, %v", pub, err)
	}
	signed, err := s.CommitSigned(tree, "deploy to a1\n", "ann@laptop", time.Unix(2, 0), SignerFunc(testSigner(t, "ed25519")))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := s.RawObject(signed)
	forged := strings.Replace(string(raw), "deploy to a1", "deploy to a2", 1)
	payload, sig := SplitSigned([]byte(forged))
	if _, err := VerifySSH(sig, GitNamespace, payload); err == nil {
		t.Error("a changed message verified")
	}
}

// BenchmarkCommitSigned is what signing adds to a deploy: one signed
// deploy commit, whatever the host count (compare BenchmarkCommitUnsigned).
func BenchmarkCommitSigned(b *testing.B) {
	s := OpenMemory()
	tree, _ := s.WriteTree(nil)
	sign := SignerFunc(testSigner(b, "ed25519"))
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.CommitSigned(tree, "deploy\n", "ann@laptop", time.Unix(int64(i), 0), sign); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommitUnsigned(b *testing.B) {
	s := OpenMemory()
	tree, _ := s.WriteTree(nil)
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Commit(tree, "deploy\n", "ann@laptop", time.Unix(int64(i), 0)); err != nil {
			b.Fatal(err)
		}
	}
}
