package store

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// The host index is Git's own trees: built with plain `git mktree` from
// the same root it has the same ids, whatever order the entries come in,
// and hosts' entries are the root tree's.
func TestHostIndexMatchesGitMktree(t *testing.T) {
	s, err := Init(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	git := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"--git-dir", s.Path()}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	// Names chosen to share buckets (a, host24 and host404 in ca; web1,
	// host251, host283 in 65), and to sort differently as directories in
	// one (h780-1 before h780 with its slash, both in 1c).
	var entries []Entry
	for _, name := range []string{"a", "host24", "host404", "web1", "host251", "host283", "h780", "h780-1", "a-b", "db"} {
		blob, _ := s.WriteBlob([]byte(name))
		tree, err := s.WriteTree([]Entry{{Name: "app", Mode: ModeFile, ID: blob}})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, Entry{Name: name, Mode: ModeDir, ID: tree})
	}
	root, _ := s.WriteTree(entries)
	x, err := s.HostIndex(root)
	if err != nil {
		t.Fatal(err)
	}
	shuffled := slices.Clone(entries)
	slices.Reverse(shuffled)
	again, err := BuildHostIndex(shuffled)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != x.ID || string(again.Root) != string(x.Root) {
		t.Errorf("the index depends on entry order: %s, %s", x.ID, again.ID)
	}

	buckets := map[string][]string{}
	for _, e := range entries {
		b := BucketOf(e.Name)
		buckets[b] = append(buckets[b], fmt.Sprintf("040000 tree %s\t%s\n", e.ID, e.Name))
	}
	var top strings.Builder
	for b, lines := range buckets {
		id := git(strings.Join(lines, ""), "mktree")
		fmt.Fprintf(&top, "040000 tree %s\t%s\n", id, b)
		if got := treeID(t, x.Buckets[b]); got.String() != id {
			t.Errorf("bucket %s: %s, git mktree: %s", b, got, id)
		}
	}
	want := git(top.String(), "mktree", "--missing")
	if x.ID.String() != want || treeID(t, x.Root).String() != want {
		t.Errorf("index %s, git mktree: %s", x.ID, want)
	}
	if len(buckets) < 2 || len(buckets) == len(entries) {
		t.Errorf("the names fill %d buckets: the test wants some shared, some not", len(buckets))
	}
	if got := git("", "cat-file", "-p", want); strings.Count(got, "\n")+1 != len(buckets) {
		t.Errorf("git reads the index as:\n%s", got)
	}
	if out, err := exec.Command("git", "--git-dir", s.Path(), "fsck", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck --strict: %v\n%s", err, out)
	}
}

func treeID(t *testing.T, raw []byte) ID {
	t.Helper()
	obj := &plumbing.MemoryObject{}
	obj.SetType(plumbing.TreeObject)
	if _, err := obj.Write(raw); err != nil {
		t.Fatal(err)
	}
	return ID(obj.Hash())
}

// A signed deploy's message ends with one trailer naming its root's host
// index, in the trailer paragraph when there is one; log's subject is
// unchanged, and git fsck --strict takes the commit.
func TestCommitSignedNamesHostIndex(t *testing.T) {
	s, err := Init(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := s.WriteTree([]Entry{{Name: "f", Mode: ModeFile, ID: mustBlob(t, s)}})
	root, _ := s.WriteTree([]Entry{{Name: "a1", Mode: ModeDir, ID: empty}, {Name: "a2", Mode: ModeDir, ID: empty}})
	x, _ := s.HostIndex(root)
	sign := SignerFunc(testSigner(t, "ed25519"))
	for _, c := range []struct{ msg, want string }{
		{"deploy to a1, a2\n", "deploy to a1, a2\n\n" + HostsTrailer + x.ID.String() + "\n"},
		{"deploy to a1\n\nDeptool-Source: abc\n", "deploy to a1\n\nDeptool-Source: abc\n" + HostsTrailer + x.ID.String() + "\n"},
		{"hotfix\n\nsee the ticket, twice\n", "hotfix\n\nsee the ticket, twice\n\n" + HostsTrailer + x.ID.String() + "\n"},
	} {
		id, err := s.CommitSigned(root, c.msg, "ann@laptop", time.Unix(1, 0), sign)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := s.CommitInfo(id)
		if info.Message != c.want {
			t.Errorf("message %q signed as %q, want %q", c.msg, info.Message, c.want)
		}
		if got, ok, err := HostsIn(info.Message); got != x.ID || !ok || err != nil {
			t.Errorf("HostsIn(%q) = %s, %v, %v", info.Message, got, ok, err)
		}
		if got := WithoutHosts(info.Message); strings.TrimSpace(got) != strings.TrimSpace(c.msg) {
			t.Errorf("WithoutHosts = %q, want %q", got, c.msg)
		}
	}
	if _, err := s.CommitSigned(root, "deploy\n\n"+HostsTrailer+x.ID.String()+"\n", "ann@laptop", time.Unix(1, 0), sign); err == nil {
		t.Error("a message with its own Deptool-Hosts line was signed")
	}
	if out, err := exec.Command("git", "--git-dir", s.Path(), "fsck", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck --strict: %v\n%s", err, out)
	}
	if out, _ := exec.Command("git", "--git-dir", s.Path(), "log", "-1", "--format=%s", "main").Output(); strings.TrimSpace(string(out)) != "hotfix" {
		t.Errorf("git log's subject: %q", out)
	}
}

func mustBlob(t *testing.T, s *Store) ID {
	t.Helper()
	id, err := s.WriteBlob([]byte("x\n"))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestHostsIn(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef01234567"
	line := HostsTrailer + id
	for _, c := range []struct {
		msg     string
		ok, bad bool
	}{
		{"deploy\n", false, false},
		{"deploy\n\n" + line + "\n", true, false},
		{"deploy\n\nDeptool-Source: x\n" + line + "\n", true, false},
		{"deploy\n\n" + line + "\n" + line + "\n", false, true},
		{"deploy\n\n" + line + "\n\nmore\n", false, true},
		{line + "\n", false, true},
		{"deploy\n" + line + "\n", false, true},
		{"deploy\n\ndeptool-hosts: " + id + "\n", false, true},
		{"deploy\n\n" + HostsTrailer + "xyz\n", false, true},
		{"deploy\n\n" + line + "\n\n" + line + "\n", false, true},
	} {
		got, ok, err := HostsIn(c.msg)
		if ok != c.ok || (err != nil) != c.bad || (ok && got.String() != id) {
			t.Errorf("HostsIn(%q) = %s, %v, %v", c.msg, got, ok, err)
		}
	}
}
