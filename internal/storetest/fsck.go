// Package storetest holds what tests of every package need to check a
// store: that stock Git accepts it. A store deptool writes is read by
// plain git (log, clone, a team's remote with receive.fsckObjects), so a
// test that leaves one git fsck refuses has found a bug, whatever it
// asserted.
package storetest

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"sync"
	"testing"
)

var (
	mu      sync.Mutex
	checked = map[testing.TB]map[string]bool{}
)

// Fsck runs `git fsck --strict` on the Git directory dir when t ends,
// and fails t with git's report if it finds anything. Calling it again
// for the same t and dir adds no second check; a dir that does not exist
// by then is skipped (the test never made the store).
func Fsck(t testing.TB, dir string) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if checked[t] == nil {
		checked[t] = map[string]bool{}
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			delete(checked, t)
		})
	}
	if checked[t][dir] {
		return
	}
	checked[t][dir] = true
	t.Cleanup(func() { check(t, dir) })
}

func check(t testing.TB, dir string) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return
	}
	cmd := exec.Command("git", "--git-dir", dir, "fsck", "--strict", "--no-progress")
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("git fsck --strict %s: %v\n%s", dir, err, out)
	}
}
