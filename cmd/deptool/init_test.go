package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// init refuses a cluster directory that is or holds the store, or is a
// file, before it makes the store; and a remote it cannot reach is an
// error, not recorded.
func TestInitRefusesDirectoriesThatCannotBeAClusterAndRemotesItCannotReach(t *testing.T) {
	root := t.TempDir()
	st := filepath.Join(root, ".deptool")
	t.Setenv("DEPTOOL_STORE", st)
	if err := os.WriteFile(filepath.Join(root, "prodfile"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{st, "is, or holds, the store"},
		{root, "is, or holds, the store"},
		{filepath.Join(st, "refs"), "is, or holds, the store"},
		{filepath.Join(root, "prodfile"), "is a file"},
	} {
		_, _, err := run(t, "init", tc.dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("init %s: %v, want an error saying %q", tc.dir, err, tc.want)
		}
		if _, err := os.Stat(st); err == nil {
			t.Fatalf("init %s made the store", tc.dir)
		}
	}
	_, _, err := run(t, "init", "--remote", filepath.Join(root, "nonexistent"), filepath.Join(root, "prod"))
	if err == nil || !strings.Contains(err.Error(), "not reached, so not recorded") {
		t.Errorf("init --remote to nowhere: %v", err)
	}
	if out, _ := os.ReadFile(filepath.Join(st, "config")); strings.Contains(string(out), "nonexistent") {
		t.Errorf("the unreachable remote was recorded:\n%s", out)
	}
}

// clone leaves nothing behind when the remote cannot be read, and names
// its directory after the directory holding a store it is given.
func TestCloneCleansUpAndNamesItsDirectory(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	t.Setenv("DEPTOOL_STORE", "")
	if _, _, err := run(t, "clone", filepath.Join(root, "nosuch.git")); err == nil {
		t.Error("clone of a missing remote succeeded")
	}
	if _, err := os.Stat(filepath.Join(root, "nosuch")); err == nil {
		t.Error("a failed clone left its directory")
	}
	src := filepath.Join(root, "srv", "team")
	t.Setenv("DEPTOOL_STORE", filepath.Join(src, ".deptool"))
	if _, _, err := run(t, "init", filepath.Join(src, "prod")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DEPTOOL_STORE", "")
	out, _, err := run(t, "clone", filepath.Join(src, ".deptool"), "")
	if err == nil || !strings.Contains(err.Error(), "DIR is empty") {
		t.Errorf("clone into an empty DIR: %v\n%s", err, out)
	}
	if out, _, err = run(t, "clone", filepath.Join(src, ".deptool")); err != nil || !strings.Contains(out, "into 'team/.deptool'") {
		t.Errorf("clone of a store with no DIR: %v\n%s", err, out)
	}
	// The allowed signers do not travel with the store: the clone says
	// it trusts no one yet, rather than letting history pass as verified.
	if !strings.Contains(out, "Trusted signers: none yet") || !strings.Contains(out, filepath.Join("team", ".deptool", "allowed_signers")) {
		t.Errorf("clone does not say whom it trusts:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(root, ".deptool", ".deptool")); err == nil {
		t.Error("clone made .deptool/.deptool")
	}
}
