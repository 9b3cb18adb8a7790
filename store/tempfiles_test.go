package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Issue 24, item 4: temp files a failed write left in objects/pack (a full
// disk during a commit) are removed when the store is next opened, but
// not one another process still writes: it holds it open.
func TestOpenRemovesTempFilesNoProcessHolds(t *testing.T) {
	s := initStore(t)
	dir := s.packDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := started.Add(-time.Minute)
	write := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("partial"), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leftObj, leftPack := write("tmp_obj_123"), write("tmp_pack_456")
	held := write("tmp_obj_789")
	f, err := os.Open(held) // another writer, still at it
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	young := filepath.Join(dir, "tmp_obj_young") // started after this process
	if err := os.WriteFile(young, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	later := started.Add(time.Minute)
	if err := os.Chtimes(young, later, later); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.Path()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{leftObj, leftPack} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there", filepath.Base(p))
		}
	}
	for _, p := range []string{held, young} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}
