package store

import (
	"bytes"
	"testing"
)

// hostCommit builds a one-host tree with one app holding files, as a host
// commit, and returns it.
func hostCommit(t *testing.T, s *Store, host string, files map[string]string) ID {
	t.Helper()
	var entries []Entry
	for name, content := range files {
		id, err := s.WriteBlob([]byte(content))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, Entry{Name: name, Mode: ModeFile, ID: id})
	}
	app, err := s.WriteTree(entries)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := s.WriteTree([]Entry{{Name: "app", Mode: ModeDir, ID: app}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.CommitHost(host, tree, ZeroID, "op@x", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetHostRef(host, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPackCarriesOnlyWhatTheReceiverLacks(t *testing.T) {
	src := OpenMemory()
	v1 := hostCommit(t, src, "web1", map[string]string{"a": "one", "b": "two"})
	other := hostCommit(t, src, "db1", map[string]string{"secret": "db only"})
	v2 := hostCommit(t, src, "web1", map[string]string{"a": "one", "b": "TWO"})

	dst := OpenMemory()
	var first bytes.Buffer
	if _, err := src.WritePack(&first, []ID{v1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := dst.ReadPack(&first); err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	n, err := src.WritePack(&second, []ID{v2}, []ID{v1})
	if err != nil {
		t.Fatal(err)
	}
	// The new commit, its root tree, the app tree and the changed blob.
	if n != 4 {
		t.Errorf("incremental pack holds %d objects, want 4", n)
	}
	if err := dst.ReadPack(&second); err != nil {
		t.Fatal(err)
	}
	info, err := dst.CommitInfo(v2)
	if err != nil {
		t.Fatal(err)
	}
	got := readBack(t, dst, info.Tree)
	if got["app/b"] != "TWO" || got["app/a"] != "one" {
		t.Errorf("receiver's tree = %v", got)
	}
	if dst.Has(other) {
		t.Error("the receiver got another host's commit")
	}
	secret, _ := src.WriteBlob([]byte("db only"))
	if dst.Has(secret) {
		t.Error("the receiver got another host's file")
	}
}
