package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The stat cache remembers, per file of the config tree, the stat fields and
// the blob id they had when last read. It lives in the store directory but
// outside Git's data, so it is never shared: it describes this checkout only.
const statCacheFile = "deptool-statcache"

// statCacheMagic names the format; a cache of another format is ignored.
const statCacheMagic = "deptool statcache 1\n"

// racyWindow: a file changed this close to the snapshot may change again
// within the same timestamp tick without its stat fields moving, so it is
// not remembered and gets read again next time (Git's "racy clean" problem).
const racyWindow = 2 * time.Second

type fileStat struct {
	size, mtime, ctime int64
	ino                uint64
	mode               uint32
	blob               ID
}

func statOf(st *unix.Stat_t) fileStat {
	return fileStat{
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
		ino:   st.Ino,
		mode:  st.Mode,
	}
}

func (a fileStat) sameFile(b fileStat) bool {
	return a.size == b.size && a.mtime == b.mtime && a.ctime == b.ctime && a.ino == b.ino && a.mode == b.mode
}

type statCache struct {
	root    string
	files   map[string]map[string]fileStat // by host, then by path; one map per host keeps lookups and merges cheap
	trees   []ID
	treeSet map[ID]struct{}
}

func newStatCache() *statCache {
	return &statCache{files: map[string]map[string]fileStat{}, treeSet: map[ID]struct{}{}}
}

func (c *statCache) hasTree(id ID) bool {
	_, ok := c.treeSet[id]
	return ok
}

// loadStatCache returns the cache for the cluster dir root; an in-memory
// store keeps it between snapshots, a store on disk reads it from its file.
// A missing, foreign or damaged cache is an empty one: it only saves work.
func (s *Store) loadStatCache(root string) (*statCache, error) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if s.cache != nil && s.cache.root == root {
		return s.cache, nil
	}
	c := newStatCache()
	c.root = root
	if s.path == "" {
		return c, nil
	}
	f, err := os.Open(filepath.Join(s.path, statCacheFile))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: stat cache: %w", err)
	}
	defer f.Close()
	if loaded, err := readStatCache(bufio.NewReaderSize(f, 1<<16)); err == nil && loaded.root == root {
		return loaded, nil
	}
	return c, nil
}

func (s *Store) saveStatCache(root string, old, fresh *statCache) error {
	now := s.now()
	fresh.root = root
	fresh.treeSet = make(map[ID]struct{}, len(fresh.trees))
	for _, id := range fresh.trees {
		fresh.treeSet[id] = struct{}{}
	}
	for _, files := range fresh.files {
		for rel, fs := range files {
			if now.Sub(time.Unix(0, max(fs.mtime, fs.ctime))) < racyWindow {
				delete(files, rel)
			}
		}
	}
	s.cacheMu.Lock()
	s.cache = fresh
	s.cacheMu.Unlock()
	if s.path == "" || sameCache(old, fresh) {
		return nil
	}
	return writeFileAtomic(filepath.Join(s.path, statCacheFile), func(w io.Writer) error {
		return writeStatCache(w, fresh)
	})
}

func sameCache(a, b *statCache) bool {
	if a.root != b.root || len(a.files) != len(b.files) || len(a.treeSet) != len(b.treeSet) {
		return false
	}
	for host, files := range b.files {
		old := a.files[host]
		if len(old) != len(files) {
			return false
		}
		for k, v := range files {
			if w, ok := old[k]; !ok || w != v {
				return false
			}
		}
	}
	for id := range b.treeSet {
		if !a.hasTree(id) {
			return false
		}
	}
	return true
}

func writeStatCache(w io.Writer, c *statCache) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var buf [binary.MaxVarintLen64]byte
	putUvarint := func(v uint64) { bw.Write(buf[:binary.PutUvarint(buf[:], v)]) }
	putString := func(s string) { putUvarint(uint64(len(s))); bw.WriteString(s) }
	bw.WriteString(statCacheMagic)
	putString(c.root)
	total := 0
	for _, files := range c.files {
		total += len(files)
	}
	putUvarint(uint64(total))
	for rel, fs := range allFiles(c) {
		putString(rel)
		putUvarint(uint64(fs.size))
		putUvarint(uint64(fs.mtime))
		putUvarint(uint64(fs.ctime))
		putUvarint(fs.ino)
		putUvarint(uint64(fs.mode))
		bw.Write(fs.blob[:])
	}
	putUvarint(uint64(len(c.treeSet)))
	for id := range c.treeSet {
		bw.Write(id[:])
	}
	return bw.Flush()
}

func readStatCache(r *bufio.Reader) (*statCache, error) {
	magic := make([]byte, len(statCacheMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != statCacheMagic {
		return nil, errors.New("not a stat cache")
	}
	c := newStatCache()
	d := decoder{r: r}
	c.root = d.string()
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		rel := d.string()
		fs := fileStat{size: int64(d.uvarint()), mtime: int64(d.uvarint()), ctime: int64(d.uvarint()), ino: d.uvarint(), mode: uint32(d.uvarint())}
		d.read(fs.blob[:])
		host, _, _ := strings.Cut(rel, "/")
		if c.files[host] == nil {
			c.files[host] = map[string]fileStat{}
		}
		c.files[host][rel] = fs
	}
	n = d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		var id ID
		d.read(id[:])
		c.treeSet[id] = struct{}{}
	}
	return c, d.err
}

// decoder reads the cache format and remembers the first error, so the
// reading code stays a straight line.
type decoder struct {
	r   *bufio.Reader
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	d.err = err
	return v
}

func (d *decoder) read(p []byte) {
	if d.err == nil {
		_, d.err = io.ReadFull(d.r, p)
	}
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > 1<<16 {
		d.err = errors.Join(d.err, errors.New("bad string"))
		return ""
	}
	p := make([]byte, n)
	d.read(p)
	return string(p)
}

// writeFileAtomic writes through a temp file and rename, so a crash leaves
// the old file or the new one, never half of one.
func writeFileAtomic(name string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func allFiles(c *statCache) iter.Seq2[string, fileStat] {
	return func(yield func(string, fileStat) bool) {
		for _, files := range c.files {
			for rel, fs := range files {
				if !yield(rel, fs) {
					return
				}
			}
		}
	}
}
