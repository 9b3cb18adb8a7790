package store

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func signer(t *testing.T, name string, s ssh.Signer) AllowedSigner {
	t.Helper()
	a, err := NewAllowedSigner(name, s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func changeSigners(t *testing.T, s *Store, by ssh.Signer, list ...AllowedSigner) ID {
	t.Helper()
	id, err := s.ChangeSigners(list, "signers\n", SignerFunc(by), by.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func fingerprints(t *testing.T, s *Store) []string {
	t.Helper()
	list, _, _, err := s.TeamSigners()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.Fingerprint())
	}
	return out
}

// gitInput runs git on the Git directory dir with input on its stdin, as
// someone with write access to the remote and no deptool would.
func gitInput(t *testing.T, dir, input string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir", dir, "-c", "user.name=mallory", "-c", "user.email=mallory@evil"}, args...)...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// forgeSigners moves the remote's signers to a commit on top of what it
// holds, listing keys, made with plain git, signed with keyFile unless
// it is "".
func forgeSigners(t *testing.T, remote string, list []AllowedSigner, keyFile string) string {
	t.Helper()
	tip := gitIn(t, remote, "rev-parse", SignersRef.String())
	blob := gitInput(t, remote, string(FormatAllowedSigners(list)), "hash-object", "-w", "--stdin")
	tree := gitInput(t, remote, "100644 blob "+blob+"\t"+AllowedSignersName+"\n", "mktree")
	args := []string{"commit-tree", tree, "-p", tip, "-m", "add a signer"}
	if keyFile != "" {
		args = append([]string{"-c", "gpg.format=ssh", "-c", "user.signingKey=" + keyFile}, append(args, "-S")...)
	}
	commit := gitInput(t, remote, "", args...)
	gitIn(t, remote, "update-ref", SignersRef.String(), commit)
	return commit
}

// The team's signers travel through the remote: a clone takes the list
// the first time it sees one, and then only changes signed by a key the
// list before allows. A change pushed with plain git, unsigned or signed
// by a key the list does not hold, is refused once, and the store keeps
// trusting its own; a rotation made by a signer is taken.
func TestSignersChangesVerifyAlongTheChain(t *testing.T) {
	ctx := context.Background()
	remote := bareRemote(t)
	ann, bob, mallory := testSigner(t, "ed25519"), testSigner(t, "ed25519"), testSigner(t, "ecdsa")
	a, b := initStore(t), initStore(t)
	start := changeSigners(t, a, ann, signer(t, "ann@laptop", ann))
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	res, err := b.Fetch(ctx, remote, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Signers.Taken != start || !res.Signers.First || res.Signers.Refused != nil {
		t.Fatalf("the first fetch of the signers: %+v, want %s taken as the chain's start", res.Signers, start.Short())
	}
	want := []string{ssh.FingerprintSHA256(ann.PublicKey())}
	if got := fingerprints(t, b); strings.Join(got, ",") != want[0] {
		t.Fatalf("b trusts %v, want %v", got, want)
	}

	// Forged with plain git: an unsigned commit adding mallory.
	forged := forgeSigners(t, remote, []AllowedSigner{signer(t, "ann@laptop", ann), signer(t, "mallory@evil", mallory)}, "")
	res, err = b.Fetch(ctx, remote, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Signers.Refused; r == nil || r.Commit.String() != forged || !strings.Contains(r.Error(), "is unsigned") {
		t.Fatalf("a forged unsigned change: %+v, want it refused as unsigned", res.Signers)
	}
	if got := fingerprints(t, b); strings.Join(got, ",") != want[0] {
		t.Fatalf("after the forgery b trusts %v, want %v", got, want)
	}
	keys, err := b.AllowedSigners()
	if err != nil || len(keys) != 1 {
		t.Fatalf("b's allowed signers: %v, %v", keys, err)
	}
	// Reported once: the next fetch of the same commit says nothing, and
	// a push does not overwrite the remote's, which the team settles.
	if res, err = b.Sync(ctx, remote, nil); err != nil || res.Signers != (SignersNews{}) {
		t.Fatalf("the second exchange: %+v, %v; want nothing new", res.Signers, err)
	}
	if got := gitIn(t, remote, "rev-parse", SignersRef.String()); got != forged {
		t.Fatalf("b's push moved the remote's signers to %s", got)
	}

	// Not even a commit: refused, and the fetch goes on.
	gitIn(t, remote, "update-ref", SignersRef.String(), gitInput(t, remote, "x\n", "hash-object", "-w", "--stdin"))
	if res, err = b.Fetch(ctx, remote, nil); err != nil || res.Signers.Refused == nil {
		t.Fatalf("a blob for the signers: %+v, %v; want it refused", res.Signers, err)
	}

	// Signed, by mallory's own key (stock git, ssh-keygen): refused,
	// naming the key.
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		gitIn(t, remote, "update-ref", SignersRef.String(), start.String())
		var keyFile string
		mallory, keyFile = keyFileSigner(t)
		forged = forgeSigners(t, remote, []AllowedSigner{signer(t, "ann@laptop", ann), signer(t, "mallory@evil", mallory)}, keyFile)
		if out := gitIn(t, remote, "cat-file", "commit", forged); !strings.Contains(out, "BEGIN SSH SIGNATURE") {
			t.Fatalf("git did not sign the forgery:\n%s", out)
		}
		res, err = b.Fetch(ctx, remote, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := res.Signers.Refused; r == nil || !strings.Contains(r.Error(), "signed by "+ssh.FingerprintSHA256(mallory.PublicKey())) {
			t.Fatalf("a change signed by mallory: %+v, want it refused naming mallory's key", res.Signers)
		}
	}

	// The team puts its list back; ann rotates herself out for bob.
	gitIn(t, remote, "update-ref", SignersRef.String(), start.String())
	if _, err := a.Fetch(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	changeSigners(t, a, ann, signer(t, "ann@laptop", ann), signer(t, "bob@laptop", bob))
	rotated := changeSigners(t, a, bob, signer(t, "bob@laptop", bob))
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if res, err = b.Fetch(ctx, remote, nil); err != nil || res.Signers.Taken != rotated || res.Signers.First {
		t.Fatalf("the rotation: %+v, %v; want %s taken", res.Signers, err, rotated.Short())
	}
	if got := fingerprints(t, b); strings.Join(got, ",") != ssh.FingerprintSHA256(bob.PublicKey()) {
		t.Fatalf("after the rotation b trusts %v, want bob's key alone", got)
	}
	// ann, no longer a signer, cannot sign a change any more.
	if _, err := a.ChangeSigners([]AllowedSigner{signer(t, "ann@laptop", ann)}, "back\n", SignerFunc(ann), ann.PublicKey()); err == nil ||
		!strings.Contains(err.Error(), "not one of the team's signers") {
		t.Fatalf("a change signed by a removed key: %v", err)
	}
	// Nor through the remote.
	c, err := b.writeSignedCommit(mustTreeOf(t, b, rotated), []ID{rotated}, "back\n", "ann@laptop", b.now(), SignerFunc(ann))
	if err != nil {
		t.Fatal(err)
	}
	// Pushed past the checks a deptool push makes, as from elsewhere.
	if err := b.push(ctx, remote, nil, []refUpdate{{name: "deptool/signers", from: rotated, to: c}}); err != nil {
		t.Fatal(err)
	}
	if res, err = a.Fetch(ctx, remote, nil); err != nil || res.Signers.Refused == nil ||
		!strings.Contains(res.Signers.Refused.Why, "signed by "+ssh.FingerprintSHA256(ann.PublicKey())+", which the list this store trusts does not allow") {
		t.Fatalf("a change by a removed signer: %+v, %v", res.Signers, err)
	}
	// Stock git verifies the chain with the file the store writes.
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		out, err := exec.Command("git", "--git-dir", b.Path(), "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile="+filepath.Join(b.Path(), AllowedSignersName),
			"verify-commit", rotated.String()).CombinedOutput()
		if err != nil {
			t.Errorf("git verify-commit %s: %v\n%s", rotated.Short(), err, out)
		}
	}
	gitIn(t, remote, "fsck", "--strict")
}

func mustTreeOf(t *testing.T, s *Store, id ID) ID {
	t.Helper()
	info, err := s.CommitInfo(id)
	if err != nil {
		t.Fatal(err)
	}
	return info.Tree
}

// keyFileSigner makes a key with ssh-keygen: its signer, and its file
// for stock git to sign with.
func keyFileSigner(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

// BenchmarkSignersChain is what a first clone pays to take a list that
// changed 100 times: each change's signature checked against the list
// before it. Later fetches pay only for the changes they bring.
func BenchmarkSignersChain(b *testing.B) {
	s := initStore(b)
	key := testSigner(b, "ed25519")
	me, err := NewAllowedSigner("ann@laptop", key.PublicKey())
	if err != nil {
		b.Fatal(err)
	}
	list := []AllowedSigner{me}
	for i := range 100 {
		k := testSigner(b, "ed25519")
		a, _ := NewAllowedSigner(fmt.Sprintf("op%d@ci", i), k.PublicKey())
		list = append(list, a)
		if _, err := s.ChangeSigners(list, "signers\n", SignerFunc(key), key.PublicKey()); err != nil {
			b.Fatal(err)
		}
	}
	tip, _, _ := s.ref(SignersRef)
	b.ResetTimer()
	for range b.N {
		if err := s.verifySignersChain(ZeroID, tip, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// A store from before the list travelled trusts its own allowed_signers
// file: a team's list fetched into it is taken only if its first commit
// is signed by a key the file lists.
func TestSignersFetchedIntoAnOlderStoreStartFromItsOwnFile(t *testing.T) {
	ctx := context.Background()
	remote := bareRemote(t)
	ann, mallory := testSigner(t, "ed25519"), testSigner(t, "ed25519")
	older := initStore(t)
	if err := older.AddAllowedSigner("ann@laptop", ann.PublicKey()); err != nil {
		t.Fatal(err)
	}
	other := initStore(t)
	changeSigners(t, other, mallory, signer(t, "mallory@evil", mallory))
	if _, err := other.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	res, err := older.Fetch(ctx, remote, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Signers.Refused; r == nil || !strings.Contains(r.Why, "which this store's allowed_signers does not allow") {
		t.Fatalf("a list started by a key the store's file does not hold: %+v", res.Signers)
	}
	if _, _, ok, _ := older.TeamSigners(); ok {
		t.Fatal("the older store took the list")
	}
	// Started by ann: taken.
	gitIn(t, remote, "update-ref", "-d", SignersRef.String())
	annStore := initStore(t)
	start := changeSigners(t, annStore, ann, signer(t, "ann@laptop", ann))
	if _, err := annStore.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if res, err = older.Fetch(ctx, remote, nil); err != nil || res.Signers.Taken != start || !res.Signers.First {
		t.Fatalf("a list started by ann: %+v, %v", res.Signers, err)
	}
}

// A change made here that did not reach the remote before the team's
// list changed there is dropped, and said so; the team's is taken.
func TestASignersChangeThatLostTheRaceIsDropped(t *testing.T) {
	ctx := context.Background()
	remote := bareRemote(t)
	ann, bob, carol := testSigner(t, "ed25519"), testSigner(t, "ed25519"), testSigner(t, "ed25519")
	a, b := initStore(t), initStore(t)
	changeSigners(t, a, ann, signer(t, "ann@laptop", ann))
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fetch(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	theirs := changeSigners(t, a, ann, signer(t, "ann@laptop", ann), signer(t, "bob@laptop", bob))
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	mine := changeSigners(t, b, ann, signer(t, "ann@laptop", ann), signer(t, "carol@laptop", carol))
	res, err := b.Sync(ctx, remote, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Signers.Taken != theirs || res.Signers.Dropped != mine {
		t.Fatalf("the race: %+v; want %s taken and %s dropped", res.Signers, theirs.Short(), mine.Short())
	}
	if got := strings.Join(fingerprints(t, b), ","); got != ssh.FingerprintSHA256(ann.PublicKey())+","+ssh.FingerprintSHA256(bob.PublicKey()) {
		t.Fatalf("b trusts %s", got)
	}
	if n, err := b.Unpushed(); err != nil || n != 0 {
		t.Fatalf("b has %d refs to push (%v)", n, err)
	}
}
