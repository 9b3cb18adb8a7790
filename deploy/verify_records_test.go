package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/storetest"
	"github.com/deptool/deptool/store"
	"golang.org/x/crypto/ssh"
)

// hostCommit records that a1 accepted deploy dep, as a deploy does.
func hostCommit(t *testing.T, s *store.Store, dep store.ID, when time.Time) store.ID {
	t.Helper()
	info, err := s.CommitInfo(dep)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.ReadTree(info.Tree)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.CommitHost("a1", entries[0].ID, dep, "root@vm", when)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetHostRef("a1", id); err != nil {
		t.Fatal(err)
	}
	return id
}

// plainGit runs git on the store as a forger with no deptool would.
func plainGit(t *testing.T, s *store.Store, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir", s.Path()}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=root", "GIT_AUTHOR_EMAIL=root@vm", "GIT_COMMITTER_NAME=root", "GIT_COMMITTER_EMAIL=root@vm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func signedStore(t *testing.T) (*store.Store, ssh.Signer) {
	t.Helper()
	s, err := store.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storetest.Fsck(t, s.Path()) })
	ours := trustKey(t)
	if err := s.SetRequireSignatures(true); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAllowedSigner("ann@laptop", ours.PublicKey()); err != nil {
		t.Fatal(err)
	}
	return s, ours
}

// The second forgery: a commit pushed to refs/remotes/a1 with
// plain git, saying a1 runs the config tree's current content. It is not
// planned against (diff, deploy --plan-only), nor counted by status.
func TestForgedHostRecordIsNotPlannedAgainst(t *testing.T) {
	s, ours := signedStore(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	good := deployed(t, s, "v1", ours, t0)
	hostCommit(t, s, good, t0)
	if bad, err := UnverifiedHosts(s, nil); err != nil || len(bad) != 0 {
		t.Fatalf("a signed deploy's record: %v, %v", bad, err)
	}
	// The operator's next config tree, which a1 does not run yet.
	next := deployed(t, s, "v2", ours, t0.Add(time.Minute))
	desired := plainGit(t, s, "rev-parse", next.String()+"^{tree}")
	if err := CheckPlan(s, store.ID(plumbingHash(desired)), diff.PlanOptions{}); err != nil {
		t.Fatalf("plan against a verified record: %v", err)
	}

	for _, c := range []struct {
		name, deploy, want string
	}{
		// Names the real deploy, but holds the new content: "up to date".
		{"tree", good.String(), "its tree is not what deploy"},
		// Names a deploy forged unsigned.
		{"deploy", deployed(t, s, "pwned", nil, t0.Add(2*time.Minute)).String(), "unsigned"},
	} {
		t.Run(c.name, func(t *testing.T) {
			forged := plainGit(t, s, "commit-tree", desired+":a1", "-m", "deploy to a1\n\nDeptool-Deploy: "+c.deploy)
			plainGit(t, s, "update-ref", "refs/remotes/a1", forged)
			bad, err := UnverifiedHosts(s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if u := bad["a1"]; u.Commit.String() != forged || !strings.Contains(u.Why, c.want) || !strings.Contains(u.String(), "refs/remotes/a1") {
				t.Errorf("forged record %s: %+v, want it reported with %q", forged[:12], u, c.want)
			}
			for _, limit := range [][]string{nil, {"a1"}} {
				err := CheckPlan(s, store.ID(plumbingHash(desired)), diff.PlanOptions{Limit: limit})
				if err == nil || !strings.Contains(err.Error(), "deptool sync --limit a1") || !strings.Contains(err.Error(), forged[:12]) {
					t.Errorf("plan --limit %v against the forged record: %v", limit, err)
				}
			}
			st, err := Status(s, store.ID(plumbingHash(desired)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != 1 || st[0].Unverified == "" || !st[0].Commit.IsZero() {
				t.Fatalf("status: %+v, want a1 not counted, its record reported", st)
			}
			if !strings.HasPrefix(st[0].Unverified, "refs/remotes/a1") {
				t.Errorf("status says why a1's record does not verify as %q, want it to name refs/remotes/a1", st[0].Unverified)
			}
		})
	}
}

// log marks a forged deploy and does not show its forged outcome note.
func TestLogMarksUnverifiedDeploys(t *testing.T) {
	s, ours := signedStore(t)
	stranger := trustKey(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	good := deployed(t, s, "v1", ours, t0)
	forged := deployed(t, s, "pwned", nil, t0.Add(time.Minute))
	foreign := deployed(t, s, "pwned too", stranger, t0.Add(2*time.Minute))
	entries, err := History(s, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := MarkUnverified(s, entries); err != nil {
		t.Fatal(err)
	}
	by := map[store.ID]Entry{}
	for _, e := range entries {
		by[e.Commit] = e
	}
	if e := by[good]; e.Unverified != "" || len(e.Hosts) != 1 {
		t.Errorf("signed deploy: %+v", e)
	}
	if e := by[forged]; !strings.Contains(e.Unverified, "unsigned") || len(e.Hosts) != 0 || e.Recorded {
		t.Errorf("forged deploy: %+v, want marked unsigned without its outcomes", e)
	}
	if e := by[foreign]; !strings.Contains(e.Unverified, ssh.FingerprintSHA256(stranger.PublicKey())) || len(e.Hosts) != 0 {
		t.Errorf("stranger's deploy: %+v", e)
	}
	// Nor does status count the forged note as a's last attempt.
	st, err := Status(s, mustTree(t, s, good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Attempt != nil {
		t.Errorf("status: %+v", st)
	}
}

func mustTree(t *testing.T, s *store.Store, id store.ID) store.ID {
	t.Helper()
	info, err := s.CommitInfo(id)
	if err != nil {
		t.Fatal(err)
	}
	return info.Tree
}

// A store from before signing keeps working: its unsigned records are
// history, planned against as before.
func TestUnsignedRecordsOfAStoreFromBeforeSigning(t *testing.T) {
	s, err := store.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer storetest.Fsck(t, s.Path())
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	old := deployed(t, s, "v0", nil, t0)
	hostCommit(t, s, old, t0)
	if bad, err := UnverifiedHosts(s, nil); err != nil || len(bad) != 0 {
		t.Fatalf("unsigned history: %v, %v", bad, err)
	}
	if err := CheckPlan(s, mustTree(t, s, old), diff.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	// The first signed deploy starts the trust; a1's record, made by
	// the unsigned deploy it has in its history, still verifies.
	ours := trustKey(t)
	if err := s.AddAllowedSigner("ann@laptop", ours.PublicKey()); err != nil {
		t.Fatal(err)
	}
	deployed(t, s, "v1", ours, t0.Add(time.Minute))
	if bad, err := UnverifiedHosts(s, nil); err != nil || len(bad) != 0 {
		t.Fatalf("unsigned history after the first signed deploy: %v, %v", bad, err)
	}
}

// A pin pushed with plain git at a forged deploy is not honoured: the
// plan is refused and names the pin; a pin at a signed deploy holds.
func TestForgedPinIsNotHonoured(t *testing.T) {
	s, ours := signedStore(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	good := deployed(t, s, "v1", ours, t0)
	hostCommit(t, s, good, t0)
	forged := deployed(t, s, "pwned", nil, t0.Add(time.Minute))
	desired := mustTree(t, s, good)
	if err := s.Pin("a1", good); err != nil {
		t.Fatal(err)
	}
	if err := CheckPlan(s, desired, diff.PlanOptions{}); err != nil {
		t.Fatalf("pin at a signed deploy: %v", err)
	}
	plainGit(t, s, "update-ref", "refs/pins/a1", forged.String())
	err := CheckPlan(s, desired, diff.PlanOptions{Limit: []string{"a1"}})
	if err == nil || !strings.Contains(err.Error(), "refs/pins/a1 (commit "+forged.Short()+")") || !strings.Contains(err.Error(), "unsigned") {
		t.Errorf("plan with a forged pin: %v", err)
	}
}

// What checking every host's record costs status and a plan, for one
// signed deploy to b.N-independent 10,000 hosts.
func BenchmarkUnverifiedHosts10k(b *testing.B) {
	s, err := store.Init(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ours := trustKey(&testing.T{})
	if err := s.AddAllowedSigner("ann@laptop", ours.PublicKey()); err != nil {
		b.Fatal(err)
	}
	blob, _ := s.WriteBlob([]byte("x"))
	app, _ := s.WriteTree([]store.Entry{{Name: "conf", Mode: store.ModeFile, ID: blob}})
	host, _ := s.WriteTree([]store.Entry{{Name: "site", Mode: store.ModeDir, ID: app}})
	var entries []store.Entry
	for i := range 10000 {
		entries = append(entries, store.Entry{Name: fmt.Sprintf("h%05d", i), Mode: store.ModeDir, ID: host})
	}
	root, _ := s.WriteTree(entries)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	dep, err := s.CommitSigned(root, "deploy\n", "ann@laptop", t0, store.SignerFunc(ours))
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		id, err := s.CommitHost(e.Name, host, dep, "ann@laptop", t0)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.SetHostRef(e.Name, id); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if bad, err := UnverifiedHosts(s, nil); err != nil || len(bad) != 0 {
			b.Fatal(bad, err)
		}
	}
}
