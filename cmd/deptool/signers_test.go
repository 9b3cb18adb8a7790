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

	"github.com/deptool/deptool/internal/storetest"
	"golang.org/x/crypto/ssh"
)

// signingKeyFile writes a fresh ed25519 key, private and .pub, and
// returns the private key's path and the key's fingerprint.
func signingKeyFile(t *testing.T, name string) (string, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_"+strings.Split(name, "@")[0])
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " " + name + "\n"
	if err := os.WriteFile(path+".pub", []byte(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, ssh.FingerprintSHA256(signer.PublicKey())
}

// The team's signers start at init, travel through the remote, are
// printed by the first clone, and change only by a signer's signed
// commit: a change pushed with plain git is refused once, and a clone of
// a remote holding one refuses to start.
func TestSignersTravelFromInitToClone(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	remote := filepath.Join(root, "team.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", remote).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v: %s", err, out)
	}
	storetest.Fsck(t, remote)
	ann, annFP := signingKeyFile(t, "ann@laptop")
	bob, bobFP := signingKeyFile(t, "bob@laptop")
	mallory, malloryFP := signingKeyFile(t, "mallory@evil")
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("DEPTOOL_SIGNING_KEY", ann)
	in := func(dir string) { t.Helper(); t.Setenv("DEPTOOL_STORE", filepath.Join(root, dir, ".deptool")) }

	in("a")
	out, _, err := run(t, "init", "--remote", remote, filepath.Join(root, "a", "prod"))
	if err != nil || !strings.Contains(out, "Trusted signers: "+annFP) {
		t.Fatalf("init: %v\n%s", err, out)
	}
	t.Setenv("DEPTOOL_STORE", "")
	out, _, err = run(t, "clone", remote, "b")
	if err != nil || !strings.Contains(out, "Took the team's signers") || !strings.Contains(out, "Trusted signers: "+annFP) {
		t.Fatalf("the first clone does not print whom it trusts: %v\n%s", err, out)
	}
	storetest.Fsck(t, filepath.Join(root, "b", ".deptool"))
	// Told ann's fingerprint out of band, a clone checks that ann signed
	// the list; mallory's it refuses, leaving nothing.
	if out, _, err = run(t, "clone", "--signer", malloryFP, remote, "x"); err == nil || !strings.Contains(err.Error(), "none of "+malloryFP+" signed") {
		t.Fatalf("a clone vouched for by a key that never signed: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "x")); err == nil {
		t.Error("the refused clone left its directory")
	}
	if out, _, err = run(t, "clone", "--signer", annFP, remote, "y"); err != nil {
		t.Fatalf("a clone vouched for by ann: %v\n%s", err, out)
	}

	// ann adds bob; b takes it and says so.
	in("a")
	if out, _, err = run(t, "signers", "add", bob+".pub"); err != nil || !strings.Contains(out, bobFP+" (bob@laptop)") {
		t.Fatalf("signers add: %v\n%s", err, out)
	}
	in("b")
	out, errOut, err := run(t, "signers")
	if err != nil || !strings.Contains(errOut, "the team's signers changed") || !strings.Contains(out, bobFP) || !strings.Contains(out, annFP) {
		t.Fatalf("b after ann added bob: %v\n%s\n%s", err, out, errOut)
	}
	tip := gitIn(t, remote, "", "rev-parse", "refs/deptool/signers")

	// At the remote, with plain git: mallory's key added, unsigned.
	pub, err := os.ReadFile(mallory + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	list := gitIn(t, remote, "", "show", tip+":allowed_signers") + "\nmallory@evil " + string(pub)
	blob := gitIn(t, remote, list, "hash-object", "-w", "--stdin")
	tree := gitIn(t, remote, "100644 blob "+blob+"\tallowed_signers\n", "mktree")
	forged := gitIn(t, remote, "", "-c", "user.name=mallory", "-c", "user.email=mallory@evil", "commit-tree", tree, "-p", tip, "-m", "add a signer")
	gitIn(t, remote, "", "update-ref", "refs/deptool/signers", forged)

	out, errOut, err = run(t, "signers")
	if err != nil || !strings.Contains(errOut, "refused the signers from remote") || !strings.Contains(errOut, forged[:12]) ||
		!strings.Contains(errOut, "is unsigned") || strings.Contains(out, malloryFP) || !strings.Contains(out, bobFP) {
		t.Fatalf("b after the forgery: %v\n%s\n%s", err, out, errOut)
	}
	if out, errOut, err = run(t, "signers"); err != nil || strings.Contains(errOut, "refused") || strings.Contains(out, malloryFP) {
		t.Fatalf("the forgery is reported again, or taken: %v\n%s\n%s", err, out, errOut)
	}
	if got := gitIn(t, remote, "", "rev-parse", "refs/deptool/signers"); got != forged {
		t.Fatalf("b overwrote the remote's signers: %s", got)
	}
	// A first clone finds a chain that does not verify: it refuses to
	// start from it, and leaves nothing behind.
	t.Setenv("DEPTOOL_STORE", "")
	if out, _, err = run(t, "clone", remote, "c"); err == nil || !strings.Contains(err.Error(), "do not verify") {
		t.Fatalf("a clone of the forged signers: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "c")); err == nil {
		t.Error("the refused clone left its directory")
	}

	// The team puts its list back; bob, a signer now, rotates ann out.
	gitIn(t, remote, "", "update-ref", "refs/deptool/signers", tip)
	in("b")
	t.Setenv("DEPTOOL_SIGNING_KEY", bob)
	if out, _, err = run(t, "signers", "remove", annFP); err != nil || !strings.Contains(out, "Trusted signers: "+bobFP+" (bob@laptop)\n") || strings.Contains(out, "Not") {
		t.Fatalf("bob removes ann: %v\n%s", err, out)
	}
	in("a")
	t.Setenv("DEPTOOL_SIGNING_KEY", ann)
	out, errOut, err = run(t, "signers")
	if err != nil || strings.Contains(out, annFP) || !strings.Contains(out, bobFP) || !strings.Contains(errOut, "changed") {
		t.Fatalf("a after the rotation: %v\n%s\n%s", err, out, errOut)
	}
	// ann, removed, can change nothing.
	if _, _, err = run(t, "signers", "add", mallory+".pub"); err == nil || !strings.Contains(err.Error(), "not one of the team's signers") {
		t.Fatalf("a removed signer adds a key: %v", err)
	}
	// init --remote on a remote that keeps a list takes it, as a clone
	// does, rather than starting one of its own.
	in("d")
	t.Setenv("DEPTOOL_SIGNING_KEY", mallory)
	out, errOut, err = run(t, "init", "--remote", remote, filepath.Join(root, "d", "prod"))
	if err != nil || !strings.Contains(errOut, "took the team's signers") || !strings.Contains(errOut, bobFP) || strings.Contains(out+errOut, malloryFP+" (") {
		t.Fatalf("init --remote on a team's remote: %v\n%s\n%s", err, out, errOut)
	}
	// Stock git verifies the chain with the file the store writes.
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		store := filepath.Join(root, "a", ".deptool")
		cmd := exec.Command("git", "--git-dir", store, "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile="+filepath.Join(store, "allowed_signers"),
			"verify-commit", "refs/deptool/signers")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("git verify-commit refs/deptool/signers: %v\n%s", err, out)
		}
	}
}

// gitIn runs stock git on the Git directory dir, with input on stdin.
func gitIn(t *testing.T, dir, input string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir", dir}, args...)...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}
