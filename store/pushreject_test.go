package store

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A remote that refuses a push (a hook, receive.fsckObjects) was reached:
// its refusal is ErrRemoteRejected with the remote's own words, never an
// unreachable remote, and never "moved" (which would retry for nothing).
func TestRemoteRefusalIsARejectionWithTheRemotesMessage(t *testing.T) {
	ctx := context.Background()
	t.Run("hook", func(t *testing.T) {
		remote := bareRemote(t)
		hook := filepath.Join(remote, "hooks", "pre-receive")
		if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'deploys are frozen until Monday' >&2\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		s := initStore(t)
		deployTo(t, s, "web1", t0)
		_, err := s.Sync(ctx, remote, nil)
		if !errors.Is(err, ErrRemoteRejected) || errors.Is(err, ErrRemoteMoved) || !strings.Contains(err.Error(), "deploys are frozen until Monday") {
			t.Errorf("push to a remote whose hook refuses: %v", err)
		}
	})
	t.Run("fsck", func(t *testing.T) {
		remote := bareRemote(t)
		if out, err := exec.Command("git", "--git-dir", remote, "config", "receive.fsckObjects", "true").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		dir := filepath.Join(t.TempDir(), ".deptool")
		s, err := Init(dir) // not checked by git fsck: it is made bad on purpose
		if err != nil {
			t.Fatal(err)
		}
		blob, _ := s.WriteBlob([]byte("x"))
		bad, _ := s.WriteTree([]Entry{{Name: ".GIT", Mode: ModeFile, ID: blob}})
		if _, err := s.Commit(bad, "bad", "op@x", t0); err != nil {
			t.Fatal(err)
		}
		_, err = s.Sync(ctx, remote, nil)
		if !errors.Is(err, ErrRemoteRejected) || !strings.Contains(err.Error(), "hasDotgit") {
			t.Errorf("push of a tree the remote's fsck refuses: %v", err)
		}
	})
}
