package store

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cachedFile finds a file's entry in a stat cache by its slash path.
func cachedFile(c *statCache, rel string) (cachedEntry, bool) {
	if c == nil {
		return cachedEntry{}, false
	}
	rec := c.rec
	parts := strings.Split(rel, "/")
	for i, name := range parts {
		r := recordReader{b: rec}
		e, found, _ := r.seek(name)
		if !found {
			return cachedEntry{}, false
		}
		if i == len(parts)-1 {
			return e, e.kind == kindFile
		}
		rec = e.rec
	}
	return cachedEntry{}, false
}

func mustSnapshot(t *testing.T, s *Store, dir string) *Snapshot {
	t.Helper()
	snap, err := s.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func reopen(t *testing.T, s *Store) *Store {
	t.Helper()
	r, err := Open(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	r.now, r.readFile = s.now, s.readFile
	return r
}

// coldSnapshot hashes dir into a fresh store, with no cache at all.
func coldSnapshot(t *testing.T, dir string) *Snapshot {
	t.Helper()
	return mustSnapshot(t, initStore(t), dir)
}

// statCacheTree is a cluster with what the cache has to tell apart: nested
// directories, an executable, an empty directory, ignored and irregular
// entries.
func statCacheTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"web1/nginx/nginx.conf":      "worker_processes 1;\n",
		"web1/nginx/sites/a.conf":    "server a\n",
		"web1/nginx/sites/b.conf":    "server b\n",
		"web1/nginx/bin/reload":      "#!/bin/sh\n",
		"web1/app/app.conf":          "x = 1\n",
		"web1/notes.txt":             "ignored\n",
		"web2/nginx/nginx.conf":      "worker_processes 2;\n",
		"web2/nginx/conf/main.conf":  "main\n",
		"web2/nginx/conf/extra.conf": "extra\n",
		"web2/nginx/conf.d/x.conf":   "x\n",
		"web2/nginx/conf-x":          "git sorts conf-x, conf.d, conf/\n",
		"db1/pg/pg.conf":             "shared_buffers = 1GB\n",
		"README":                     "ignored\n",
	})
	mkdir(t, dir, "web2/nginx/empty")
	chmod(t, dir, "web1/nginx/bin/reload", 0o755)
	symlink(t, dir, "nginx.conf", "web1/nginx/current")
	return dir
}

func mkdir(t *testing.T, dir, rel string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, dir, rel string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(filepath.Join(dir, rel), mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, dir, target, rel string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(dir, rel)); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, dir, rel string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(dir, rel)); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, dir, from, to string) {
	t.Helper()
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		t.Fatal(err)
	}
}

func mtime(t *testing.T, dir, rel string) time.Time {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func setMtime(t *testing.T, dir, rel string, when time.Time) {
	t.Helper()
	if err := os.Chtimes(filepath.Join(dir, rel), when, when); err != nil {
		t.Fatal(err)
	}
}

// overwrite changes a file in place (same inode) and puts its mtime back,
// as a tool that preserves times would.
func overwrite(t *testing.T, dir, rel, content string) {
	t.Helper()
	old := mtime(t, dir, rel)
	if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	setMtime(t, dir, rel, old)
}

// Every kind of change must give the snapshot a cold one gives, whether
// the cache comes from memory (same process) or from disk (a new one).
// The cache trusts every file here (the clock is far in the future), so
// what catches each change is the stat comparison alone; parent
// directories' mtimes play no part.
func TestCachedSnapshotEqualsColdAfterEveryKindOfChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		same   bool // the tree does not change (symlinks are not in it)
	}{
		{"content and size changed, mtime put back", func(t *testing.T, dir string) {
			overwrite(t, dir, "web1/nginx/nginx.conf", "worker_processes 16;\n")
		}, false},
		{"same size, new mtime", func(t *testing.T, dir string) {
			old := mtime(t, dir, "web1/nginx/sites/a.conf")
			if err := os.WriteFile(filepath.Join(dir, "web1/nginx/sites/a.conf"), []byte("server A\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			setMtime(t, dir, "web1/nginx/sites/a.conf", old.Add(time.Hour))
		}, false},
		{"same size and mtime, replaced by rename", func(t *testing.T, dir string) {
			old := mtime(t, dir, "web2/nginx/conf/main.conf")
			writeTree(t, dir, map[string]string{"web2/nginx/conf/.main.conf.tmp": "MAIN\n"})
			setMtime(t, dir, "web2/nginx/conf/.main.conf.tmp", old)
			rename(t, dir, "web2/nginx/conf/.main.conf.tmp", "web2/nginx/conf/main.conf")
		}, false},
		{"chmod +x", func(t *testing.T, dir string) { chmod(t, dir, "web1/app/app.conf", 0o755) }, false},
		{"chmod -x", func(t *testing.T, dir string) { chmod(t, dir, "web1/nginx/bin/reload", 0o644) }, false},
		{"file added", func(t *testing.T, dir string) {
			writeTree(t, dir, map[string]string{"web1/nginx/sites/c.conf": "server c\n"})
		}, false},
		{"hidden file added in an app", func(t *testing.T, dir string) {
			writeTree(t, dir, map[string]string{"web1/app/.keep": ""})
		}, false},
		{"file removed", func(t *testing.T, dir string) { remove(t, dir, "web1/nginx/sites/b.conf") }, false},
		{"last file removed", func(t *testing.T, dir string) { remove(t, dir, "web1/app/app.conf") }, false},
		{"file renamed", func(t *testing.T, dir string) {
			rename(t, dir, "web1/nginx/sites/a.conf", "web1/nginx/sites/z.conf")
		}, false},
		{"file moved to another directory", func(t *testing.T, dir string) {
			rename(t, dir, "web1/nginx/sites/a.conf", "web1/nginx/a.conf")
		}, false},
		{"two files swapped", func(t *testing.T, dir string) {
			rename(t, dir, "web2/nginx/conf/main.conf", "web2/nginx/conf/tmp")
			rename(t, dir, "web2/nginx/conf/extra.conf", "web2/nginx/conf/main.conf")
			rename(t, dir, "web2/nginx/conf/tmp", "web2/nginx/conf/extra.conf")
		}, false},
		{"directory renamed", func(t *testing.T, dir string) { rename(t, dir, "web1/nginx/sites", "web1/nginx/vhosts") }, false},
		{"symlink retargeted", func(t *testing.T, dir string) {
			remove(t, dir, "web1/nginx/current")
			symlink(t, dir, "sites/a.conf", "web1/nginx/current")
		}, true},
		{"symlink replaced by a file", func(t *testing.T, dir string) {
			remove(t, dir, "web1/nginx/current")
			writeTree(t, dir, map[string]string{"web1/nginx/current": "worker_processes 1;\n"})
		}, false},
		{"file replaced by a symlink", func(t *testing.T, dir string) {
			remove(t, dir, "web1/app/app.conf")
			symlink(t, dir, "../nginx/nginx.conf", "web1/app/app.conf")
		}, false},
		{"directory replaced by a file", func(t *testing.T, dir string) {
			remove(t, dir, "web2/nginx/conf")
			writeTree(t, dir, map[string]string{"web2/nginx/conf": "main\n"})
		}, false},
		{"file replaced by a directory", func(t *testing.T, dir string) {
			remove(t, dir, "web1/app/app.conf")
			writeTree(t, dir, map[string]string{"web1/app/app.conf/x": "x = 1\n"})
		}, false},
		{"empty directory added", func(t *testing.T, dir string) { mkdir(t, dir, "db1/pg/empty") }, false},
		{"empty directory removed", func(t *testing.T, dir string) { remove(t, dir, "web2/nginx/empty") }, false},
		{"app removed", func(t *testing.T, dir string) { remove(t, dir, "web1/app") }, false},
		{"app directory replaced by a file", func(t *testing.T, dir string) {
			remove(t, dir, "web1/app")
			writeTree(t, dir, map[string]string{"web1/app": "x"})
		}, false},
		{"host added", func(t *testing.T, dir string) {
			writeTree(t, dir, map[string]string{"db2/pg/pg.conf": "shared_buffers = 1GB\n"})
		}, false},
		{"host removed", func(t *testing.T, dir string) { remove(t, dir, "db1") }, false},
		{"host renamed", func(t *testing.T, dir string) { rename(t, dir, "db1", "db9") }, false},
		{"host made hidden", func(t *testing.T, dir string) { rename(t, dir, "db1", ".db1") }, false},
		{"host replaced by a symlink", func(t *testing.T, dir string) {
			remove(t, dir, "db1")
			symlink(t, dir, "web2", "db1")
		}, false},
		{"ignored file changed", func(t *testing.T, dir string) {
			writeTree(t, dir, map[string]string{"web1/notes.txt": "still ignored, but longer\n"})
		}, true},
		{"named pipe added", func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "web1/app/fifo"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := statCacheTree(t)
			s := initStore(t)
			before := mustSnapshot(t, s, dir)
			if diff := cmp.Diff(before, mustSnapshot(t, reopen(t, s), dir)); diff != "" {
				t.Fatalf("unchanged tree, cached snapshot differs from the first (-first +cached):\n%s", diff)
			}
			tt.change(t, dir)
			cold := coldSnapshot(t, dir)
			if (cold.Tree == before.Tree) != tt.same {
				t.Fatalf("test is wrong: change left the tree the same = %v, want %v", cold.Tree == before.Tree, tt.same)
			}
			fromDisk := mustSnapshot(t, reopen(t, s), dir)
			if diff := cmp.Diff(cold, fromDisk); diff != "" {
				t.Errorf("cache from disk: snapshot differs from a cold one (-cold +cached):\n%s", diff)
			}
			if diff := cmp.Diff(cold, mustSnapshot(t, s, dir)); diff != "" {
				t.Errorf("cache in memory: snapshot differs from a cold one (-cold +cached):\n%s", diff)
			}
			if diff := cmp.Diff(cold, mustSnapshot(t, reopen(t, s), dir)); diff != "" {
				t.Errorf("cache rebuilt after the change: snapshot differs from a cold one (-cold +cached):\n%s", diff)
			}
		})
	}
}

// A same-size edit that keeps the mtime, within the same timestamp tick as
// the last snapshot, leaves every stat field but ctime alone, and ctime too
// on a file system with coarse timestamps. The racy rule is what catches
// it: a file that recent was never trusted to the cache.
func TestRacyEditWithinOneTickIsSeen(t *testing.T) {
	dir := statCacheTree(t)
	s := initStore(t)
	const rel = "web1/nginx/nginx.conf"
	changed := mtime(t, dir, rel)
	s.now = func() time.Time { return changed.Add(racyWindow / 2) }
	mustSnapshot(t, s, dir)
	if _, ok := cachedFile(s.cache, rel); ok {
		t.Fatal("a file modified within the racy window was cached")
	}
	if _, ok := cachedFile(s.cache, "web1/nginx/sites/a.conf"); ok {
		t.Fatal("files written together are all racy; one was cached")
	}
	overwrite(t, dir, rel, "worker_processes 9;\n")
	if diff := cmp.Diff(coldSnapshot(t, dir), mustSnapshot(t, reopen(t, s), dir)); diff != "" {
		t.Errorf("snapshot differs from a cold one (-cold +cached):\n%s", diff)
	}
}

// Once the window has passed, the racy files are read once more and then
// trusted; the cache file is not rewritten when nothing changed.
func TestStatCacheSettlesAndIsNotRewritten(t *testing.T) {
	dir := statCacheTree(t)
	s := initStore(t)
	written := mtime(t, dir, "web1/nginx/nginx.conf")
	s.now = func() time.Time { return written }
	mustSnapshot(t, s, dir)
	s.now = func() time.Time { return farFuture }
	reads := countReads(s)
	mustSnapshot(t, reopen(t, s), dir) // reopen shares s.now and readFile
	if reads.Load() == 0 {
		t.Fatal("racy files were not read again")
	}
	cache := filepath.Join(s.Path(), statCacheFile)
	setMtime(t, filepath.Dir(cache), statCacheFile, t0)
	reads.Store(0)
	mustSnapshot(t, reopen(t, s), dir)
	if n := reads.Load(); n != 0 {
		t.Errorf("unchanged tree: %d files read, want none", n)
	}
	if got := mtime(t, filepath.Dir(cache), statCacheFile); !got.Equal(t0) {
		t.Errorf("unchanged tree: stat cache rewritten (mtime %v)", got)
	}
}

// countReads counts the files s reads from the config tree.
func countReads(s *Store) *atomic.Int64 {
	var n atomic.Int64
	s.readFile = func(name string) ([]byte, error) {
		n.Add(1)
		return os.ReadFile(name)
	}
	return &n
}

// A damaged, truncated, foreign or old cache is ignored: every file is read
// and the snapshot is the cold one.
func TestDamagedStatCacheIsIgnored(t *testing.T) {
	damage := map[string]func([]byte) []byte{
		"truncated":        func(b []byte) []byte { return b[:len(b)/2] },
		"one byte flipped": func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b },
		"checksum lost":    func(b []byte) []byte { return b[:len(b)-4] },
		"empty":            func([]byte) []byte { return nil },
		"garbage":          func([]byte) []byte { return []byte(strings.Repeat("\xff", 4096)) },
		"old version": func(b []byte) []byte {
			return append([]byte("deptool statcache 1\n"), b[len(statCacheMagic)+1:]...)
		},
		"newer version": func(b []byte) []byte { b[len(statCacheMagic)] = statCacheVersion + 1; return b },
		"another tree": func(b []byte) []byte {
			c, err := decodeStatCache(b)
			if err != nil {
				panic(err)
			}
			c.root += "-elsewhere"
			return encodeStatCache(c)
		},
	}
	for name, damage := range damage {
		t.Run(name, func(t *testing.T) {
			dir := statCacheTree(t)
			s := initStore(t)
			mustSnapshot(t, s, dir)
			// A change the damaged cache must not hide: same size, mtime
			// put back.
			overwrite(t, dir, "web1/app/app.conf", "x = 2\n")
			cache := filepath.Join(s.Path(), statCacheFile)
			data, err := os.ReadFile(cache)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cache, damage(data), 0o644); err != nil {
				t.Fatal(err)
			}
			r := reopen(t, s)
			reads := countReads(r)
			if diff := cmp.Diff(coldSnapshot(t, dir), mustSnapshot(t, r, dir)); diff != "" {
				t.Errorf("snapshot differs from a cold one (-cold +cached):\n%s", diff)
			}
			if n := reads.Load(); n != 11 {
				t.Errorf("%d files read, want all 11", n)
			}
		})
	}
}

// A record that is malformed past its checksum (a bug, not a disk error)
// must not be trusted beyond the point where it stops making sense.
func TestMalformedRecordEndsTheCache(t *testing.T) {
	var rec []byte
	rec = appendFileRecord(rec, "a", kindFile, fileStat{size: 1}, ID{1})
	rec = append(rec, 9, 'b', 'z') // a name longer than what follows
	r := recordReader{b: rec}
	if _, found, _ := r.seek("a"); !found {
		t.Fatal("the good entry was not found")
	}
	if _, found, _ := r.seek("b"); found || !r.bad {
		t.Errorf("malformed entry: found = %v, bad = %v; want not found and bad", found, r.bad)
	}
}

// ReadTree answers from the last snapshot's records what it would answer
// from the objects: same entries, same Git order, modes included, racy
// files too.
func TestTreesFromTheSnapshotEqualTheObjects(t *testing.T) {
	dir := statCacheTree(t)
	s := initStore(t)
	written := mtime(t, dir, "web1/nginx/nginx.conf")
	s.now = func() time.Time { return written } // every file racy
	t.Run("racy", func(t *testing.T) { compareTrees(t, s, mustSnapshot(t, s, dir).Tree) })
	s.now = func() time.Time { return farFuture }
	t.Run("trusted", func(t *testing.T) { compareTrees(t, s, mustSnapshot(t, s, dir).Tree) })
}

func compareTrees(t *testing.T, s *Store, tree ID) {
	objects := reopen(t, s) // has taken no snapshot: reads objects
	var walk func(id ID, path string)
	walk = func(id ID, path string) {
		if _, ok := s.snapshotTree(id); !ok && id != EmptyTree {
			t.Errorf("%s: tree not served from the snapshot", path)
		}
		fromRecords, err := s.ReadTree(id)
		if err != nil {
			t.Fatal(err)
		}
		fromObjects, err := objects.ReadTree(id)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fromObjects, fromRecords); diff != "" {
			t.Errorf("%s: entries (-objects +records):\n%s", path, diff)
		}
		for _, e := range fromObjects {
			if e.IsDir() {
				walk(e.ID, path+e.Name+"/")
			}
		}
	}
	walk(tree, "/")
}
