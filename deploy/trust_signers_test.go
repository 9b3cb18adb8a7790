package deploy

import (
	"context"
	"crypto/rand"
	"golang.org/x/crypto/ssh"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/storetest"
	"github.com/deptool/deptool/store"
)

// A fresh clone judges what it fetches by the team's signers, which come
// with the store: a deploy forged on the remote with plain git is not
// offered to roll back to, from the first fetch on (before the list
// travelled, a clone trusted every deploy until its operator filled in
// allowed_signers by hand).
func TestAFreshCloneJudgesByTheTeamsSigners(t *testing.T) {
	ctx := context.Background()
	remote := filepath.Join(t.TempDir(), "remote.git")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"--git-dir", remote, "-c", "user.name=root", "-c", "user.email=root@vm"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "init", "-q", "--bare", remote).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	ann := trustKey(t)
	a, err := store.Init(filepath.Join(t.TempDir(), ".deptool"))
	if err != nil {
		t.Fatal(err)
	}
	storetest.Fsck(t, a.Path())
	me, _ := store.NewAllowedSigner("ann@laptop", ann.PublicKey())
	if _, err := a.ChangeSigners([]store.AllowedSigner{me}, "signers: ann\n", store.SignerFunc(ann), ann.PublicKey()); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	good := deployed(t, a, "v1", ann, t0)
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	// The forger, at the remote, with plain git: an unsigned deploy on
	// top of main.
	forged := git("commit-tree", good.String()+"^{tree}", "-p", good.String(), "-m", "deploy to a1")
	git("update-ref", "refs/heads/main", forged)

	b, err := store.Init(filepath.Join(t.TempDir(), ".deptool"))
	if err != nil {
		t.Fatal(err)
	}
	storetest.Fsck(t, b.Path())
	if _, err := b.Fetch(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrust(b)
	if err != nil {
		t.Fatal(err)
	}
	if v := tr.Verify(good); v.Problem != "" {
		t.Errorf("ann's deploy, in the clone: %+v", v)
	}
	if v := tr.Verify(store.ID(plumbingHash(forged))); !strings.Contains(v.Problem, "unsigned") {
		t.Errorf("the forged deploy, in the clone: %+v; want it refused as unsigned", v)
	}
	entries, _, err := TrustedVersions(b, []string{"a1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Commit != good {
		t.Errorf("the clone offers %v; want only %s", entries, good.Short())
	}
}

// The first signed deploy of a store starts its trust with the signing
// key; when the operator signs with a certificate (as it logs in), the
// store trusts the certificate's key, so the deploys after it verify
// (the certificate itself, listed, matched no signature).
func TestTrustStartedByACertificateTrustsItsKey(t *testing.T) {
	s, err := store.Init(filepath.Join(t.TempDir(), ".deptool"))
	if err != nil {
		t.Fatal(err)
	}
	ca, user := trustKey(t), trustKey(t)
	cert := &ssh.Certificate{Key: user.PublicKey(), CertType: ssh.UserCert, ValidPrincipals: []string{"root"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewCertSigner(cert, user)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddAllowedSigner("ann@laptop", signer.PublicKey()); err != nil {
		t.Fatal(err)
	}
	d := deployed(t, s, "v1", signer, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	tr, err := NewTrust(s)
	if err != nil {
		t.Fatal(err)
	}
	if v := tr.Verify(d); v.Problem != "" {
		t.Errorf("a deploy signed with the certificate that started the trust: %+v", v)
	}
}
