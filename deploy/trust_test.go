package deploy

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/crypto/ssh"
)

func trustKey(t *testing.T) ssh.Signer {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// deployed records a deploy of content to a1, signed by signer (nil:
// unsigned, as plain git makes it), with an outcome note saying a1
// deployed it: what a forger pushes to the team's remote.
func deployed(t *testing.T, s *store.Store, content string, signer ssh.Signer, when time.Time) store.ID {
	t.Helper()
	blob, _ := s.WriteBlob([]byte(content))
	app, _ := s.WriteTree([]store.Entry{{Name: "index.html", Mode: store.ModeFile, ID: blob}})
	host, _ := s.WriteTree([]store.Entry{{Name: "site", Mode: store.ModeDir, ID: app}})
	root, _ := s.WriteTree([]store.Entry{{Name: "a1", Mode: store.ModeDir, ID: host}})
	var sign store.SignCommit
	if signer != nil {
		sign = store.SignerFunc(signer)
	}
	id, err := s.CommitSigned(root, "deploy to a1\n", "root@vm", when, sign)
	if err != nil {
		t.Fatal(err)
	}
	note, _ := json.Marshal(Result{Deploy: id, Hosts: []HostResult{{Host: "a1", Outcome: Deployed}}})
	if err := s.RecordOutcomes(id, note, "root@vm", when); err != nil {
		t.Fatal(err)
	}
	return id
}

// Rollback offers only deploys signed by a key the store trusts: a
// forged deploy (unsigned, or signed by a stranger's key) with a forged
// "deployed" note is reported, not offered.
func TestTrustedVersionsLeaveOutForgeries(t *testing.T) {
	s, err := store.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ours, stranger := trustKey(t), trustKey(t)
	if err := s.SetRequireSignatures(true); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAllowedSigner("ann@laptop", ours.PublicKey()); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	good1 := deployed(t, s, "v1", ours, t0)
	forged := deployed(t, s, "pwned", nil, t0.Add(time.Minute))
	foreign := deployed(t, s, "pwned too", stranger, t0.Add(2*time.Minute))
	good2 := deployed(t, s, "v2", ours, t0.Add(3*time.Minute))

	entries, rejected, err := TrustedVersions(s, []string{"a1"})
	if err != nil {
		t.Fatal(err)
	}
	var got []store.ID
	for _, e := range entries {
		got = append(got, e.Commit)
	}
	if len(got) != 2 || got[0] != good2 || got[1] != good1 {
		t.Errorf("offered %v; want only %s and %s", got, good2.Short(), good1.Short())
	}
	why := map[store.ID]string{}
	for _, r := range rejected {
		why[r.Commit] = r.Why
	}
	if !strings.Contains(why[forged], "unsigned") {
		t.Errorf("forged unsigned deploy: %q", why[forged])
	}
	if !strings.Contains(why[foreign], ssh.FingerprintSHA256(stranger.PublicKey())) {
		t.Errorf("deploy signed by a stranger: %q", why[foreign])
	}

}

// A store from before signing (no switch) still takes its unsigned
// history, which its first signed deploy vouches for, but not an unsigned
// deploy forged beside it and merged in, nor a stranger's signature.
func TestTrustInAStoreFromBeforeSigning(t *testing.T) {
	s, err := store.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ours, stranger := trustKey(t), trustKey(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	legacy := deployed(t, s, "v0", nil, t0)
	tr, _ := NewTrust(s)
	if v := tr.Verify(legacy); v.Problem != "" {
		t.Errorf("unsigned history of a store without signers: %+v", v)
	}
	if err := s.AddAllowedSigner("ann@laptop", ours.PublicKey()); err != nil {
		t.Fatal(err)
	}
	good := deployed(t, s, "v1", ours, t0.Add(time.Minute))
	foreign := deployed(t, s, "pwned too", stranger, t0.Add(2*time.Minute))
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"--git-dir", s.Path()}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=root", "GIT_AUTHOR_EMAIL=root@vm", "GIT_COMMITTER_NAME=root", "GIT_COMMITTER_EMAIL=root@vm")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	x := git("commit-tree", git("rev-parse", good.String()+"^{tree}"), "-p", good.String(), "-m", "deploy to a1")
	m := git("commit-tree", git("rev-parse", "main^{tree}"), "-p", "main", "-p", x, "-m", "merge")
	git("update-ref", "refs/heads/main", m)

	tr, err = NewTrust(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id store.ID
		ok bool
	}{{legacy, true}, {good, true}, {foreign, false}, {store.ID(plumbingHash(x)), false}} {
		if v := tr.Verify(c.id); (v.Problem == "") != c.ok {
			t.Errorf("%s: %+v, want ok=%v", c.id.Short(), v, c.ok)
		}
	}
	if out, err := exec.Command("git", "--git-dir", s.Path(), "fsck", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck --strict: %v\n%s", err, out)
	}
}

func plumbingHash(s string) plumbing.Hash { return plumbing.NewHash(s) }

// benchFleet is a store holding a tree of hosts, each its own tree as in
// a fleet (the host index carries their ids), and a key to sign with.
func benchFleet(hosts int) (*store.Store, ssh.Signer, []store.Entry, store.ID) {
	s := store.OpenMemory()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(k)
	entries := make([]store.Entry, hosts)
	for i := range entries {
		blob, _ := s.WriteBlob([]byte(fmt.Sprint(i)))
		tree, _ := s.WriteTree([]store.Entry{{Name: "app", Mode: store.ModeFile, ID: blob}})
		entries[i] = store.Entry{Name: fmt.Sprintf("host%d", i), Mode: store.ModeDir, ID: tree}
	}
	root, _ := s.WriteTree(entries)
	return s, signer, entries, root
}

// BenchmarkSigningPerDeploy is what signing adds to a deploy on the
// operator's side: one signature and the proof built once (the host
// index of the root tree), whatever the host count, plus one host's
// proof in its apply request. B/request is that request's encoding for
// one host, with its proof for a deploy to N hosts.
func BenchmarkSigningPerDeploy(b *testing.B) {
	for _, hosts := range []int{1, 10000} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			s, signer, entries, root := benchFleet(hosts)
			var size int
			b.ResetTimer()
			for i := range b.N {
				// A new tree each time, as each deploy has: no index
				// is left from the last one.
				if i > 0 {
					b.StopTimer()
					entries[0].ID, _ = s.WriteTree([]store.Entry{{Name: "n", Mode: store.ModeFile, ID: store.ID(plumbingHash(fmt.Sprintf("%040x", i)))}})
					root, _ = s.WriteTree(entries)
					b.StartTimer()
				}
				id, err := s.CommitSigned(root, "deploy\n", "ann@laptop", time.Unix(int64(i), 0), store.SignerFunc(signer))
				if err != nil {
					b.Fatal(err)
				}
				d := &deployer{recorder: &recorder{store: s, deploy: id}, tree: root}
				if err := d.loadProof(); err != nil || d.proof == nil {
					b.Fatal(err)
				}
				req, err := json.Marshal(wire.ApplyRequest{Commit: id, Deploy: id, Signed: d.proofFor("host0")})
				if err != nil {
					b.Fatal(err)
				}
				size = len(req)
			}
			b.ReportMetric(float64(size), "B/request")
		})
	}
}

// BenchmarkProofPerHost is what each host's proof adds to a deploy to N
// hosts on the operator's side: its apply request's encoding, made once
// per host (B/request its size).
func BenchmarkProofPerHost(b *testing.B) {
	for _, hosts := range []int{1, 10000} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			s, signer, entries, root := benchFleet(hosts)
			id, err := s.CommitSigned(root, "deploy\n", "ann@laptop", time.Unix(1, 0), store.SignerFunc(signer))
			if err != nil {
				b.Fatal(err)
			}
			d := &deployer{recorder: &recorder{store: s, deploy: id}, tree: root}
			if err := d.loadProof(); err != nil || d.proof == nil {
				b.Fatal(err)
			}
			var size int
			b.ResetTimer()
			for i := range b.N {
				req, err := json.Marshal(wire.ApplyRequest{Commit: id, Deploy: id, Signed: d.proofFor(entries[i%hosts].Name)})
				if err != nil {
					b.Fatal(err)
				}
				size = len(req)
			}
			b.ReportMetric(float64(size), "B/request")
		})
	}
}
