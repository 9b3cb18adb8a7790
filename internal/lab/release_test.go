package lab

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestParseSpecs(t *testing.T) {
	got, err := parseSpecs([]string{"a", "b@trixie", "c@11", "d@bookworm"}, "12")
	if err != nil {
		t.Fatal(err)
	}
	want := []hostSpec{{"a", "bookworm"}, {"b", "trixie"}, {"c", "bullseye"}, {"d", "bookworm"}}
	if !slices.Equal(got, want) {
		t.Errorf("parseSpecs = %v, want %v", got, want)
	}
	if got, _ := parseSpecs([]string{"a"}, ""); got[0].release != "" {
		t.Errorf("no release: %v, want this machine's root", got)
	}
	for _, bad := range [][]string{{"a@buster"}, {"a@"}, {"a@trixie", "a@bullseye"}, {"A@trixie"}} {
		if _, err := parseSpecs(bad, ""); err == nil {
			t.Errorf("parseSpecs(%q) = nil error", bad)
		}
	}
	if _, err := parseSpecs([]string{"web1@sid"}, ""); err == nil || !strings.Contains(err.Error(), "host web1") || !strings.Contains(err.Error(), "trixie (13)") {
		t.Errorf("unknown release: %v; want it to name the host and the known releases", err)
	}
}

func TestRootKeyFollowsThePackageList(t *testing.T) {
	before := rootKey("trixie")
	saved := rootPackages
	defer func() { rootPackages = saved }()
	rootPackages = append(slices.Clone(saved), "extra")
	if after := rootKey("trixie"); after == before || !strings.HasPrefix(after, "trixie-") {
		t.Errorf("rootKey with another package list = %s, before %s", after, before)
	}
	if rootKey("bullseye") == before {
		t.Error("two releases share a key")
	}
}

// fakeBuilder replaces mmdebstrap with a script that logs each run to
// count and builds a one-file root, or fails.
func fakeBuilder(t *testing.T, fail bool) (count string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("BuildRoot runs the builder under unshare -m, which needs root")
	}
	dir := t.TempDir()
	count = filepath.Join(dir, "count")
	script := "#!/bin/sh\necho run >> " + count + "\nfor a; do dest=$a; done\nsleep 0.2\n"
	if fail {
		script += "echo 'E: mirror unreachable' >&2; touch \"$dest/partial\"; exit 1\n"
	} else {
		script += "mkdir -p \"$dest/etc\" && echo ok > \"$dest/etc/built\"\n"
	}
	p := filepath.Join(dir, "mmdebstrap")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	savedPath, savedCache := mmdebstrapPath, RootCache
	mmdebstrapPath, RootCache = p, filepath.Join(dir, "roots")
	t.Cleanup(func() { mmdebstrapPath, RootCache = savedPath, savedCache })
	return count
}

// Concurrent callers build a root once, and all get the finished one.
func TestBuildRootOnceForConcurrentCallers(t *testing.T) {
	count := fakeBuilder(t, false)
	dirs := make([]string, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = BuildRoot(context.Background(), "trixie", nil) })
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil || dirs[i] != filepath.Join(RootCache, rootKey("trixie")) {
			t.Fatalf("BuildRoot #%d = %s, %v", i, dirs[i], errs[i])
		}
	}
	if b, _ := os.ReadFile(count); string(b) != "run\n" {
		t.Errorf("builder ran %d times, want once", strings.Count(string(b), "run"))
	}
	if b, err := os.ReadFile(filepath.Join(dirs[0], "etc/built")); err != nil || string(b) != "ok\n" {
		t.Errorf("built root: %q, %v", b, err)
	}
	if d, err := BuildRoot(context.Background(), "13", nil); err != nil || d != dirs[0] {
		t.Errorf("cached root by number: %s, %v", d, err)
	}
	if d, err := BuildRoot(context.Background(), "", nil); err != nil || d != "/" {
		t.Errorf("no release: %s, %v; want /", d, err)
	}
}

// A failed build leaves nothing a later call would take for a root, and
// says why with the builder's output.
func TestBuildRootFailureLeavesNothing(t *testing.T) {
	fakeBuilder(t, true)
	_, err := BuildRoot(context.Background(), "bullseye", nil)
	if err == nil || !strings.Contains(err.Error(), "bullseye") || !strings.Contains(err.Error(), "E: mirror unreachable") {
		t.Fatalf("BuildRoot with a failing builder: %v", err)
	}
	entries, _ := os.ReadDir(RootCache)
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("left in the cache: %s", e.Name())
		}
	}
}
