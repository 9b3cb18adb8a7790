package store

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// RefusedName agrees with git fsck --strict itself: each name goes into a
// tree of a store of its own, and git says whether it accepts it.
// .gitmodules names hold a submodule URL Git refuses, since fsck reads
// those files rather than refusing the name.
func TestRefusedNameAgreesWithGitFsck(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	names := []string{
		".git", ".GIT", ".Git", ".git.", ".git..", ".git ", ".git . ", ".git:x",
		"git~1", "GIT~1", "git~1.", "git~1 ", `a\.git`, `a\b\GIT~1`,
		".g\u200cit", "\ufeff.git", ".gi\u200dT",
		".gitmodules", ".GITMODULES", ".gitmodules.", ".gitmodules ", "gitmod~1", "GITMOD~4",
		"gi7eba~1", "gi7eba~9", "gi7eb~12", ".gitmodul\u200ces",
		// Accepted:
		"git", ".gitx", "git~2", "x.git", ".gitignore", "gitmodules", "gitmod~5", "gi7eba~0", ".git~1", "a.conf", "a\\b",
	}
	for _, name := range names {
		dir := filepath.Join(t.TempDir(), ".deptool")
		s, err := Init(dir)
		if err != nil {
			t.Fatal(err)
		}
		blob, _ := s.WriteBlob([]byte("[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n"))
		tree, err := s.WriteTree([]Entry{{Name: name, Mode: ModeFile, ID: blob}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(tree, "m", "op@x", t0); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("git", "--git-dir", dir, "fsck", "--strict", "--no-progress").CombinedOutput()
		gitRefuses := err != nil
		if msg := RefusedName(name); (msg != "") != gitRefuses {
			t.Errorf("%q: RefusedName = %q, git fsck refuses it: %v\n%s", name, msg, gitRefuses, out)
		}
	}
}
