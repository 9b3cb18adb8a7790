package deploy

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/store"
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

	// A store from before signing takes its unsigned history, but never a
	// stranger's signature once it trusts a key.
	if err := s.SetRequireSignatures(false); err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrust(s)
	if err != nil {
		t.Fatal(err)
	}
	if v := tr.Verify(forged); v.Problem != "" || v.Signed {
		t.Errorf("unsigned history in a store without the switch: %+v", v)
	}
	if v := tr.Verify(foreign); v.Problem == "" {
		t.Errorf("a stranger's signature passed: %+v", v)
	}
}
