package store

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deptool/deptool/internal/storetest"
)

var (
	t0        = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	farFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// writeTree creates files under dir from a map of slash paths to contents.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readBack flattens a tree in the store to slash paths and contents.
func readBack(t testing.TB, s *Store, tree ID) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(prefix string, id ID)
	walk = func(prefix string, id ID) {
		entries, err := s.ReadTree(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				walk(prefix+e.Name+"/", e.ID)
				continue
			}
			data, err := s.ReadBlob(e.ID)
			if err != nil {
				t.Fatal(err)
			}
			out[prefix+e.Name] = string(data)
		}
	}
	walk("", tree)
	return out
}

// testInit is Init for tests: git fsck --strict checks the store when
// the test ends.
func testInit(t testing.TB, path string) (*Store, error) {
	t.Helper()
	storetest.Fsck(t, path)
	return Init(path)
}

func initStore(t testing.TB) *Store {
	t.Helper()
	s, err := testInit(t, filepath.Join(t.TempDir(), ".deptool"))
	if err != nil {
		t.Fatal(err)
	}
	// Long after any file a test writes: nothing is racy unless a test
	// says so.
	s.now = func() time.Time { return farFuture }
	return s
}

// hostsTree is a config tree with hosts, each with one app holding one
// file whose content is content.
func hostsTree(t testing.TB, s *Store, content string, hosts ...string) ID {
	t.Helper()
	blob, err := s.WriteBlob([]byte(content))
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.WriteTree([]Entry{{Name: "f", Mode: ModeFile, ID: blob}})
	if err != nil {
		t.Fatal(err)
	}
	host, err := s.WriteTree([]Entry{{Name: "app", Mode: ModeDir, ID: app}})
	if err != nil {
		t.Fatal(err)
	}
	var entries []Entry
	for _, h := range hosts {
		entries = append(entries, Entry{Name: h, Mode: ModeDir, ID: host})
	}
	tree, err := s.WriteTree(entries)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestOpenMissingStoreSaysWhatToDo(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), ".deptool"))
	if !errors.Is(err, ErrNoStore) || !strings.Contains(err.Error(), "deptool init") {
		t.Fatalf("Open of a missing store: got %v, want ErrNoStore telling to run deptool init", err)
	}
}

func TestInitTwiceOpensTheSameStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".deptool")
	s, err := testInit(t, path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Commit(EmptyTree, "first", "op@laptop", t0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := testInit(t, path)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := again.Main()
	if err != nil || !ok || got != id {
		t.Fatalf("Main after second Init = %v %v %v, want %v", got, ok, err, id)
	}
}

func TestSnapshotKeepsOnlyAppsUnderHosts(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"README":                "not deployed",
		"web1/notes.txt":        "not deployed either",
		"web1/nginx/nginx.conf": "worker_processes 1;",
		"web1/nginx/sites/a":    "site a",
		"db1/pg/pg.conf":        "x",
		".git/HEAD":             "ref",
	})
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := initStore(t)
	snap, err := s.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"web1/nginx/nginx.conf": "worker_processes 1;",
		"web1/nginx/sites/a":    "site a",
		"db1/pg/pg.conf":        "x",
	}
	if diff := cmp.Diff(want, readBack(t, s, snap.Tree)); diff != "" {
		t.Errorf("snapshot contents (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{".git", "README", "web1/notes.txt"}, snap.Ignored); diff != "" {
		t.Errorf("ignored (-want +got):\n%s", diff)
	}
	hosts, err := s.ReadTree(snap.Tree)
	if err != nil {
		t.Fatal(err)
	}
	var emptyHost *Entry
	for i := range hosts {
		if hosts[i].Name == "empty" {
			emptyHost = &hosts[i]
		}
	}
	if emptyHost == nil || emptyHost.ID != EmptyTree {
		t.Errorf("an empty host directory must be a host with no apps, got %+v", emptyHost)
	}
}

func TestSnapshotReportsIrregularFiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"web1/nginx/nginx.conf": "x"})
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "web1/nginx/link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "web1/nginx/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := initStore(t).Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Irregular{{Path: "web1/nginx/fifo", Kind: "named pipe"}, {Path: "web1/nginx/link", Kind: "symlink"}}
	if diff := cmp.Diff(want, snap.Irregular); diff != "" {
		t.Errorf("irregular (-want +got):\n%s", diff)
	}
}

func TestSnapshotRecordsTheExecutableBit(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"web1/app/run.sh": "#!/bin/sh", "web1/app/conf": "c"})
	if err := os.Chmod(filepath.Join(dir, "web1/app/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := initStore(t)
	snap, err := s.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]string{}
	hosts, _ := s.ReadTree(snap.Tree)
	apps, _ := s.ReadTree(hosts[0].ID)
	files, _ := s.ReadTree(apps[0].ID)
	for _, f := range files {
		modes[f.Name] = f.Mode.String()
	}
	want := map[string]string{"run.sh": ModeExecutable.String(), "conf": ModeFile.String()}
	if diff := cmp.Diff(want, modes); diff != "" {
		t.Errorf("modes (-want +got):\n%s", diff)
	}
}

func TestStatCacheSeesChangesAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"web1/app/a": "one", "web1/app/b": "two"})
	s := initStore(t)
	first, err := s.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Path(), statCacheFile)); err != nil {
		t.Fatalf("stat cache not written: %v", err)
	}
	// Same size, new contents: the cache must not hide it.
	writeTree(t, dir, map[string]string{"web1/app/a": "ONE"})
	reopened, err := Open(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	reopened.now = s.now
	second, err := reopened.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.Tree == second.Tree {
		t.Fatal("a changed file did not change the snapshot")
	}
	if got := readBack(t, reopened, second.Tree)["web1/app/a"]; got != "ONE" {
		t.Errorf("web1/app/a = %q, want ONE", got)
	}
}

func TestStatCacheReadsOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"web1/app/a": "one", "web1/app/b": "two", "db1/app/c": "three"})
	s := initStore(t)
	var (
		mu   sync.Mutex // hosts are hashed in parallel
		read []string
	)
	s.readFile = func(name string) ([]byte, error) {
		rel, _ := filepath.Rel(dir, name)
		mu.Lock()
		defer mu.Unlock()
		read = append(read, filepath.ToSlash(rel))
		return os.ReadFile(name)
	}
	if _, err := s.Snapshot(dir); err != nil {
		t.Fatal(err)
	}
	if len(read) != 3 {
		t.Fatalf("first snapshot read %v, want all three files", read)
	}
	read = nil
	writeTree(t, dir, map[string]string{"web1/app/b": "TWO"})
	if _, err := s.Snapshot(dir); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"web1/app/b"}, read); diff != "" {
		t.Errorf("second snapshot read (-want +got):\n%s", diff)
	}
}

func TestStatCacheForgetsRacyFiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"web1/app/a": "one"})
	s := initStore(t)
	fi, err := os.Stat(filepath.Join(dir, "web1/app/a"))
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return fi.ModTime().Add(racyWindow / 2) }
	if _, err := s.Snapshot(dir); err != nil {
		t.Fatal(err)
	}
	if _, ok := cachedFile(s.cache, "web1/app/a"); ok {
		t.Error("a file modified within the racy window was cached; a same-tick rewrite could then go unseen")
	}
}

func TestCommitsOnlyMoveForward(t *testing.T) {
	s := initStore(t)
	a, err := s.WriteTree([]Entry{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Commit(a, "deploy 1", "alice@laptop", t0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Commit(a, "rollback to 1", "bob@ci", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.CommitInfo(second)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ID{first}, info.Parents); diff != "" {
		t.Errorf("parents (-want +got):\n%s", diff)
	}
	if info.Operator != "bob@ci" || !info.Time.Equal(t0.Add(time.Minute)) || info.Message != "rollback to 1" {
		t.Errorf("commit info = %+v", info)
	}
	out, err := exec.Command("git", "--git-dir", s.Path(), "log", "--format=%H %ae %s", "main").Output()
	if err != nil {
		t.Fatalf("plain git cannot read the store: %v", err)
	}
	want := second.String() + " bob@ci rollback to 1\n" + first.String() + " alice@laptop deploy 1\n"
	if string(out) != want {
		t.Errorf("git log:\n%s\nwant:\n%s", out, want)
	}
}

func TestHostCommitsChainPerHost(t *testing.T) {
	s := OpenMemory()
	deploy, err := s.Commit(EmptyTree, "d", "op@x", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.HostRef("web1"); ok {
		t.Fatal("a new store has no host refs")
	}
	if tree, _ := s.HostTree("web1"); tree != EmptyTree {
		t.Errorf("HostTree of a never-deployed host = %v, want the empty tree", tree)
	}
	h1, err := s.CommitHost("web1", EmptyTree, deploy, "op@x", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetHostRef("web1", h1); err != nil {
		t.Fatal(err)
	}
	h2, err := s.CommitHost("web1", EmptyTree, deploy, "op@x", t0)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.CommitInfo(h2)
	if diff := cmp.Diff([]ID{h1}, info.Parents); diff != "" {
		t.Errorf("host commit parents (-want +got):\n%s", diff)
	}
	got, ok, err := s.DeployOf(h2)
	if err != nil || !ok || got != deploy {
		t.Errorf("DeployOf = %v %v %v, want %v", got, ok, err, deploy)
	}
	refs, err := s.HostRefs()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]ID{"web1": h1}, refs); diff != "" {
		t.Errorf("host refs (-want +got):\n%s", diff)
	}
}

func TestDefaultClusterIsRelativeToTheStore(t *testing.T) {
	root := t.TempDir()
	s, err := testInit(t, filepath.Join(root, ".deptool"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.DefaultCluster(); ok {
		t.Fatal("a fresh store has no default cluster")
	}
	if err := s.SetDefaultCluster(filepath.Join(root, "prod")); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "--git-dir", s.Path(), "config", "deptool.cluster").Output()
	if err != nil || strings.TrimSpace(string(out)) != "prod" {
		t.Errorf("git config deptool.cluster = %q (%v), want prod", out, err)
	}
	got, ok, err := s.DefaultCluster()
	if err != nil || !ok || got != filepath.Join(root, "prod") {
		t.Errorf("DefaultCluster = %q %v %v", got, ok, err)
	}
}

func TestOutcomesAreGitNotesOnDeployCommits(t *testing.T) {
	s := initStore(t)
	first, _ := s.Commit(EmptyTree, "one", "op@x", t0)
	second, _ := s.Commit(EmptyTree, "two", "op@x", t0)
	if err := s.RecordOutcomes(first, []byte(`{"web1":"deployed"}`), "op@x", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOutcomes(second, []byte(`{"web1":"rolled back"}`), "op@x", t0); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Outcomes(first)
	if err != nil || !ok || string(got) != `{"web1":"deployed"}` {
		t.Errorf("Outcomes(first) = %q %v %v", got, ok, err)
	}
	out, err := exec.Command("git", "--git-dir", s.Path(), "notes", "--ref", "deptool", "show", second.String()).Output()
	if err != nil || string(out) != `{"web1":"rolled back"}` {
		t.Errorf("git notes show = %q (%v)", out, err)
	}
}

func TestPinsAndHistory(t *testing.T) {
	s := initStore(t)
	a, _ := s.Commit(hostsTree(t, s, "a", "web2"), "a", "op@x", t0)
	b, _ := s.Commit(EmptyTree, "b", "op@x", t0)
	hist, err := s.History(0)
	if err != nil || len(hist) != 2 || hist[0].ID != b || hist[1].ID != a {
		t.Fatalf("History = %v %v", hist, err)
	}
	if got, err := s.Resolve(a.String()[:7]); err != nil || got != a {
		t.Errorf("Resolve(short a) = %v %v", got, err)
	}
	if got, err := s.Resolve("main~1"); err != nil || got != a {
		t.Errorf("Resolve(main~1) = %v %v", got, err)
	}
	if _, err := s.Resolve("nosuch"); err == nil {
		t.Error("Resolve of an unknown revision succeeded")
	}
	if err := s.Pin("web2", a); err != nil {
		t.Fatal(err)
	}
	pins, _ := s.Pins()
	if diff := cmp.Diff(map[string]ID{"web2": a}, pins); diff != "" {
		t.Errorf("pins (-want +got):\n%s", diff)
	}
	if err := s.Unpin("web2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin("web2"); !errors.Is(err, ErrNotPinned) {
		t.Errorf("second Unpin: %v, want ErrNotPinned", err)
	}
	if pins, _ := s.Pins(); len(pins) != 0 {
		t.Errorf("pins after unpin: %v", pins)
	}
}

func TestAMirrorCloneKeepsHistoryOutcomesAndRefs(t *testing.T) {
	s := initStore(t)
	d, _ := s.Commit(hostsTree(t, s, "d", "web1"), "d", "op@x", t0)
	h, _ := s.CommitHost("web1", EmptyTree, d, "op@x", t0)
	if err := s.SetHostRef("web1", h); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOutcomes(d, []byte(`{"hosts":[]}`), "op@x", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin("web1", d); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	storetest.Fsck(t, clone)
	if out, err := exec.Command("git", "clone", "-q", "--mirror", s.Path(), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone --mirror: %v: %s", err, out)
	}
	c, err := Open(clone)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Outcomes(d); err != nil || !ok {
		t.Errorf("outcomes in the clone: %v %v", ok, err)
	}
	if got, ok, _ := c.HostRef("web1"); !ok || got != h {
		t.Errorf("host ref in the clone = %v %v", got, ok)
	}
	if pins, _ := c.Pins(); pins["web1"] != d {
		t.Errorf("pins in the clone = %v", pins)
	}
}

// A pin names a host, and only a deploy of main that has it: a name that
// climbs out of refs/pins, or that git refuses, never becomes a ref or a
// file, and main stays where it was.
func TestPinRefusesBadNamesAndCommitsThatAreNoDeployOfTheHost(t *testing.T) {
	s := initStore(t)
	d, _ := s.Commit(hostsTree(t, s, "d", "web1"), "d", "op@x", t0)
	if err := s.RecordOutcomes(d, []byte(`{"hosts":[]}`), "op@x", t0); err != nil {
		t.Fatal(err)
	}
	notes, _, err := s.ref(OutcomesRef)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host string
		at   ID
		want string
	}{
		{"../heads/main", d, `host "../heads/main": host name contains '/'`},
		{"../../../escaped", d, `host "../../../escaped": host name contains '/'`},
		{"bad name!", d, `host "bad name!": host name contains ' '`},
		{"web1.lock", d, "cannot end in \".lock\""},
		{"", d, "empty part"},
		{"web1", notes, "is not a deploy on main"},
		{"web2", d, "has no host web2"},
	} {
		err := s.Pin(tc.host, tc.at)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Pin(%q, %s) = %v, want an error saying %q", tc.host, tc.at.Short(), err, tc.want)
		}
		if err := s.Unpin(tc.host); err == nil {
			t.Errorf("Unpin(%q) succeeded", tc.host)
		}
	}
	if main, _, _ := s.Main(); main != d {
		t.Errorf("main moved to %s", main)
	}
	if pins, _ := s.Pins(); len(pins) != 0 {
		t.Errorf("pins = %v, want none", pins)
	}
	if _, err := os.Stat(filepath.Join(s.Path(), "..", "escaped")); err == nil {
		t.Error("a pin wrote a file outside the store")
	}
	if err := s.Pin("web1", d); err != nil {
		t.Errorf("Pin(web1, its deploy) = %v", err)
	}
}
