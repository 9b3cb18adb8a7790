package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/storetest"
)

// bareRemote makes an empty bare Git repository, as a team's remote.
func bareRemote(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "remote.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v: %s", err, out)
	}
	storetest.Fsck(t, dir)
	return dir
}

// deployTo records what one deploy records: a deploy commit, a host commit
// and ref, and the outcome note.
func deployTo(t *testing.T, s *Store, host string, when time.Time) ID {
	t.Helper()
	tree := hostsTree(t, s, host+when.String(), host)
	d, err := s.Commit(tree, "deploy to "+host, "op@"+host, when)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.CommitHost(host, tree, d, "op@x", when)
	if err == nil {
		err = s.SetHostRef(host, h)
	}
	if err == nil {
		err = s.RecordOutcomes(d, []byte(`{"host":"`+host+`"}`), "op@x", when)
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"--git-dir", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Two clones deploy to disjoint hosts, each without the other's records,
// and sync: both deploys, both notes and both host refs end up on the
// remote and in both clones, main is joined by a merge, and nothing is
// rewritten.
func TestTwoClonesThatDeployedBothLand(t *testing.T) {
	remote := bareRemote(t)
	ctx := context.Background()
	a, b := initStore(t), initStore(t)
	first := deployTo(t, a, "web1", t0)
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	// Now both deploy at once, neither seeing the other.
	da := deployTo(t, a, "web1", t0.Add(time.Minute))
	db := deployTo(t, b, "db1", t0.Add(2*time.Minute))
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	res, err := b.Sync(ctx, remote, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Merged {
		t.Errorf("b's sync did not merge: %+v", res)
	}
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{a, b} {
		hist, err := s.History(0)
		if err != nil {
			t.Fatal(err)
		}
		var got []ID
		for _, c := range hist {
			got = append(got, c.ID)
		}
		if len(got) != 3 || !containsAll(got, first, da, db) {
			t.Errorf("history = %v, want %v %v %v", got, db, da, first)
		}
		for _, d := range []ID{first, da, db} {
			if _, ok, err := s.Outcomes(d); !ok || err != nil {
				t.Errorf("outcome of %s missing (%v)", d.Short(), err)
			}
		}
		refs, _ := s.HostRefs()
		if len(refs) != 2 {
			t.Errorf("host refs = %v", refs)
		}
	}
	// The remote agrees, and its main contains every deploy.
	for _, d := range []ID{first, da, db} {
		gitIn(t, remote, "merge-base", "--is-ancestor", d.String(), "main")
	}
	if got := gitIn(t, remote, "rev-parse", "main"); got != mustMain(t, a).String() || got != mustMain(t, b).String() {
		t.Errorf("remote main %s, a %s, b %s", got, mustMain(t, a), mustMain(t, b))
	}
	for _, note := range []ID{first, da, db} {
		gitIn(t, remote, "notes", "--ref", "deptool", "show", note.String())
	}
}

func containsAll(ids []ID, want ...ID) bool {
	for _, w := range want {
		found := false
		for _, id := range ids {
			found = found || id == w
		}
		if !found {
			return false
		}
	}
	return true
}

func mustMain(t *testing.T, s *Store) ID {
	t.Helper()
	id, _, err := s.Main()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A pin set in one clone reaches the other, and so does its removal; a
// host ref moved by the other clone's later deploy moves here.
func TestPinsAndHostRefsFollowTheRemote(t *testing.T) {
	remote := bareRemote(t)
	ctx := context.Background()
	a, b := initStore(t), initStore(t)
	d := deployTo(t, a, "web1", t0)
	if err := a.Pin("web1", d); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if pins, _ := b.Pins(); pins["web1"] != d {
		t.Fatalf("b's pins = %v", pins)
	}
	if err := a.Unpin("web1"); err != nil {
		t.Fatal(err)
	}
	later := deployTo(t, a, "web1", t0.Add(time.Hour))
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if pins, _ := b.Pins(); len(pins) != 0 {
		t.Errorf("the unpin did not reach b: %v", pins)
	}
	ah, _, _ := a.HostRef("web1")
	bh, _, _ := b.HostRef("web1")
	if ah != bh {
		t.Errorf("host ref web1: a %s, b %s", ah, bh)
	}
	if m := mustMain(t, b); m != later {
		t.Errorf("b's main = %s, want a's later deploy %s (a fast-forward)", m, later)
	}
}

// A push that finds the remote moved since the fetch is refused, not
// forced; Sync then integrates and pushes again.
func TestPushRequiresTheRemoteWhereItWasFetched(t *testing.T) {
	remote := bareRemote(t)
	ctx := context.Background()
	a, b := initStore(t), initStore(t)
	deployTo(t, a, "web1", t0)
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fetch(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	deployTo(t, a, "web1", t0.Add(time.Minute))
	if _, err := a.Sync(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	deployTo(t, b, "web1", t0.Add(2*time.Minute))
	before := gitIn(t, remote, "rev-parse", "main")
	if _, err := b.Push(ctx, remote, nil); err == nil {
		t.Fatal("b pushed over a remote that moved since its fetch")
	}
	if got := gitIn(t, remote, "rev-parse", "main"); got != before {
		t.Errorf("the refused push moved remote main")
	}
	if _, err := b.Sync(ctx, remote, nil); err != nil {
		t.Fatalf("sync after the refusal: %v", err)
	}
	gitIn(t, remote, "merge-base", "--is-ancestor", before, "main")
}

// Issue 24, item 5: a store of large random files pushes to a new remote
// within a deadline. go-git's push (delta search, default compression)
// ran for minutes and never finished. The push costs about 1.4 s of CPU;
// the deadline leaves room for a machine shared with other work.
func TestPushOfLargeFilesFinishesWithinItsDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 256 MiB")
	}
	remote := bareRemote(t)
	s := initStore(t)
	var entries []Entry
	buf := make([]byte, 16<<20)
	for i := range 16 {
		if _, err := rand.Read(buf); err != nil {
			t.Fatal(err)
		}
		id, err := s.WriteBlob(buf)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, Entry{Name: fmt.Sprintf("big%02d", i), Mode: ModeFile, ID: id})
	}
	tree, err := s.WriteTree([]Entry{{Name: "web1", Mode: ModeDir, ID: mustTree(t, s, entries)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(tree, "deploy", "op@x", t0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := s.Sync(ctx, remote, nil); err != nil {
		t.Fatalf("sync after %s: %v", time.Since(start), err)
	}
	t.Logf("pushed 16 x 16 MiB in %s", time.Since(start))
	gitIn(t, remote, "fsck", "--strict")
	if got, want := gitIn(t, remote, "rev-parse", "refs/heads/main^{tree}"), tree.String(); got != want {
		t.Errorf("the remote's main has tree %s, want %s", got, want)
	}
}

// The deadline stops a push: it returns soon after, not when the pack is
// written.
func TestPushStopsAtItsDeadline(t *testing.T) {
	if testing.Short() {
		// The race build spends a minute writing the 32 MiB; the run
		// without -short (the suite's) checks the deadline.
		t.Skip("writes 32 MiB")
	}
	remote := bareRemote(t)
	s := initStore(t)
	var entries []Entry
	buf := make([]byte, 4<<20)
	for i := range 8 {
		if _, err := rand.Read(buf); err != nil {
			t.Fatal(err)
		}
		id, err := s.WriteBlob(buf)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, Entry{Name: fmt.Sprintf("big%02d", i), Mode: ModeFile, ID: id})
	}
	tree, err := s.WriteTree([]Entry{{Name: "web1", Mode: ModeDir, ID: mustTree(t, s, entries)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(tree, "deploy", "op@x", t0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a deadline already passed
	if _, err := s.Push(ctx, remote, nil); err == nil {
		t.Fatal("a push whose deadline had passed succeeded")
	}
	if out, err := exec.Command("git", "--git-dir", remote, "rev-parse", "--verify", "-q", "refs/heads/main").CombinedOutput(); err == nil {
		t.Errorf("the remote has main %s after a push past its deadline", out)
	}
	gitIn(t, remote, "fsck", "--strict")
}

func mustTree(t *testing.T, s *Store, entries []Entry) ID {
	t.Helper()
	id, err := s.WriteTree(entries)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A remote given as a relative path is found again from any directory.
func TestRelativeRemoteIsRecordedAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s := initStore(t)
	for url, want := range map[string]string{
		"../team.git":                  filepath.Join(filepath.Dir(dir), "team.git"),
		"team.git":                     filepath.Join(dir, "team.git"),
		"/srv/team.git":                "/srv/team.git",
		"file:///srv/team.git":         "file:///srv/team.git",
		"git@git.example.com:team.git": "git@git.example.com:team.git",
		"ssh://git.example.com/team":   "ssh://git.example.com/team",
	} {
		if err := s.SetRemote(url); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Remote(); err != nil || got != want {
			t.Errorf("SetRemote(%q): recorded %q, %v; want %q", url, got, err, want)
		}
	}
}
