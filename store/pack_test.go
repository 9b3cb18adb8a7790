package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// Repack keeps what keep reaches, history included, in one pack, and
// deletes everything else: the store still reads, and plain git finds it
// whole.
func TestRepackKeepsWhatIsReachable(t *testing.T) {
	src := initStore(t)
	dst := initStore(t)
	var commits []ID
	var parent []ID
	for i := range 5 {
		blob, _ := src.WriteBlob([]byte(fmt.Sprintf("version %d\n", i)))
		tree, _ := src.WriteTree([]Entry{{Name: "conf", Mode: ModeFile, ID: blob}})
		c, err := src.writeCommit(tree, parent, "v", "op@x", t0)
		if err != nil {
			t.Fatal(err)
		}
		parent = []ID{c}
		commits = append(commits, c)
		var buf bytes.Buffer
		if _, err := src.WritePack(&buf, []ID{c}, nil); err != nil { // a full pack each time: copies
			t.Fatal(err)
		}
		if err := dst.ReadPack(&buf); err != nil {
			t.Fatal(err)
		}
	}
	// An attempt nobody keeps.
	junk, _ := dst.WriteBlob([]byte("rolled back\n"))
	if n := dst.Packs(); n != 5 {
		t.Fatalf("%d packs before, want 5", n)
	}
	freed, err := dst.Repack(commits[4])
	if err != nil {
		t.Fatal(err)
	}
	if n := dst.Packs(); n != 1 || freed <= 0 {
		t.Errorf("after repack: %d packs, %d bytes freed", n, freed)
	}
	if dst.Has(junk) {
		t.Error("the unreachable blob survived")
	}
	for _, c := range commits {
		if missing, ok, err := dst.Missing(c); ok || err != nil {
			t.Errorf("commit %s lost %s (%v)", c, missing, err)
		}
	}
	if err := dst.setRef("refs/heads/current", commits[4], ZeroID); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "--git-dir", dst.Path(), "fsck", "--no-dangling").CombinedOutput(); err != nil {
		t.Errorf("git fsck after repack: %v\n%s", err, out)
	}
	// Again, with nothing to drop: the one pack stays.
	if _, err := dst.Repack(commits[4]); err != nil || dst.Packs() != 1 {
		t.Errorf("second repack: %v, %d packs", err, dst.Packs())
	}
	if _, ok, _ := dst.Missing(commits[4]); ok {
		t.Error("the second repack lost objects")
	}
}

// A file larger than largeObject is stored while it is read, never whole in
// memory; its id is the one Git gives it, and a pack of it reads back.
func TestLargeFilesAreStreamed(t *testing.T) {
	s := initStore(t)
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), largeObject/16*3+5)
	writeTree(t, dir, map[string]string{"web1/app/big": string(big)})
	snap, err := s.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "web1", "app", "big")
	want, err := exec.Command("git", "hash-object", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	host, _ := s.ReadTree(snap.Tree)
	app, _ := s.ReadTree(host[0].ID)
	files, _ := s.ReadTree(app[0].ID)
	if got := files[0].ID.String(); got != strings.TrimSpace(string(want)) {
		t.Fatalf("blob id %s, git says %s", got, want)
	}
	c, _ := s.CommitHost("web1", host[0].ID, EmptyTree, "op@x", t0)
	var pack bytes.Buffer
	if _, err := s.WritePack(&pack, []ID{c}, nil); err != nil {
		t.Fatal(err)
	}
	dst := initStore(t)
	if err := dst.ReadPack(&pack); err != nil {
		t.Fatal(err)
	}
	data, err := dst.ReadBlob(files[0].ID)
	if err != nil || !bytes.Equal(data, big) {
		t.Errorf("read back %d bytes (%v), want %d", len(data), err, len(big))
	}
}

// lockProbe is a pack's receiver that records, at its first write, whether
// the store was free for others meanwhile.
type lockProbe struct {
	s *Store
	bytes.Buffer
	probed  bool
	blocked bool
}

func (p *lockProbe) Write(b []byte) (int, error) {
	if !p.probed {
		p.probed = true
		if p.s.objMu.TryLock() {
			p.s.objMu.Unlock()
		} else {
			p.blocked = true
		}
	}
	return p.Buffer.Write(b)
}

// A pack goes to its receiver with the store free: a host whose link
// stalls mid-pack must not stall every other host's send. Small and large
// packs alike (a large one spills to a file among the packs), and they
// arrive whole.
func TestWritePackLeavesTheStoreFreeWhileSending(t *testing.T) {
	s := initStore(t)
	// Random bytes: zlib cannot shrink them below the spool's memory.
	big := make([]byte, spoolMemory+spoolMemory/2)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	for _, tc := range []struct {
		name    string
		files   map[string]string
		spilled bool
	}{
		{"small", map[string]string{"a": "one"}, false},
		{"larger than memory", map[string]string{"big": string(big)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := hostCommit(t, s, "web1", tc.files)
			p := &lockProbe{s: s}
			if _, err := s.WritePack(p, []ID{c}, nil); err != nil {
				t.Fatal(err)
			}
			if p.blocked {
				t.Error("the store was locked while the pack was written to its receiver")
			}
			if spilled := p.Len() > spoolMemory; spilled != tc.spilled {
				t.Fatalf("pack of %d bytes: spilled to a file = %v, want %v", p.Len(), spilled, tc.spilled)
			}
			dst := initStore(t)
			if err := dst.ReadPack(&p.Buffer); err != nil {
				t.Fatal(err)
			}
			info, err := dst.CommitInfo(c)
			if err != nil {
				t.Fatal(err)
			}
			got := readBack(t, dst, info.Tree)
			for name, want := range tc.files {
				if got["app/"+name] != want {
					t.Errorf("app/%s arrived with %d bytes, want %d", name, len(got["app/"+name]), len(want))
				}
			}
			left, _ := filepath.Glob(filepath.Join(s.packDir(), "tmp_pack_spool_*"))
			if len(left) > 0 {
				t.Errorf("spool files left: %v", left)
			}
		})
	}
}

// A pack or index whose bytes changed on disk is found by its checksums,
// and once set aside its objects read as missing, which a pack of the
// whole history restores.
func TestDamagedPacksAreFoundAndSetAside(t *testing.T) {
	for _, tc := range []struct{ ext, reason string }{
		{".pack", "the pack does not match its checksum"},
		{".idx", "the index does not match its checksum"},
	} {
		t.Run(tc.ext, func(t *testing.T) {
			src := OpenMemory()
			v1 := hostCommit(t, src, "web1", map[string]string{"a": strings.Repeat("one\n", 1000), "b": "two"})
			dst := initStore(t)
			whole := func() {
				var pack bytes.Buffer
				if _, err := src.WritePack(&pack, []ID{v1}, nil); err != nil {
					t.Fatal(err)
				}
				if err := dst.ReadPack(&pack); err != nil {
					t.Fatal(err)
				}
			}
			whole()
			if got, err := dst.DamagedPacks(); err != nil || len(got) != 0 {
				t.Fatalf("a whole store has damaged packs %v (%v)", got, err)
			}
			files, _ := filepath.Glob(filepath.Join(dst.packDir(), "pack-*"+tc.ext))
			if len(files) != 1 {
				t.Fatalf("packs %v, want one", files)
			}
			data, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0x01
			if err := os.WriteFile(files[0], data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := dst.DamagedPacks()
			if err != nil || len(got) != 1 || got[0].Reason != tc.reason {
				t.Fatalf("damaged packs = %v (%v), want one: %s", got, err, tc.reason)
			}
			aside, err := dst.SetAsideDamagedPacks()
			if err != nil || len(aside) != 1 {
				t.Fatalf("set aside %v (%v)", aside, err)
			}
			for _, ext := range []string{".pack", ".idx"} {
				if _, err := os.Stat(filepath.Join(dst.Path(), "damaged", aside[0].Name+ext)); err != nil {
					t.Errorf("%s%s not kept aside: %v", aside[0].Name, ext, err)
				}
			}
			if dst, err = Open(dst.Path()); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := dst.Missing(v1); !ok || err != nil {
				t.Fatalf("after setting the damaged pack aside the store lacks nothing of v1 (%v)", err)
			}
			whole()
			if missing, ok, err := dst.Missing(v1); ok || err != nil {
				t.Fatalf("after the whole history the store lacks %s (%v)", missing, err)
			}
			if got, err := dst.DamagedPacks(); err != nil || len(got) != 0 {
				t.Errorf("damaged packs after the repair: %v (%v)", got, err)
			}
		})
	}
}
