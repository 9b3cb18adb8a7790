package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"golang.org/x/sys/unix"
)

// The stat cache remembers, per file of the config tree, the stat fields and
// the blob id they had when last read, and per directory the tree id it
// hashed to. It lives in the store directory but outside Git's data, so it
// is never shared: it describes this checkout only.
const statCacheFile = "deptool-statcache"

// statCacheMagic and statCacheVersion name the format; a cache of another
// format or version is ignored and rebuilt. Version 1 was a flat list of
// paths; version 2 nests one record per directory.
const (
	statCacheMagic   = "deptool statcache\n"
	statCacheVersion = 2
)

// racyWindow: a file changed this close to the snapshot may change again
// within the same timestamp tick without its stat fields moving, so it is
// not remembered and gets read again next time (Git's "racy clean" problem).
const racyWindow = 2 * time.Second

// crcTable checksums the cache: a damaged cache that still parsed could
// map a file to another file's blob.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// statCache is a loaded cache: the record of the cluster directory, laid
// out as in the file. Records are decoded where the walk needs them, by the
// worker walking that host, so loading costs one read and one checksum.
//
// A directory record is a sequence of entries sorted by name:
//
//	name     uvarint length, bytes
//	kind     'f' (file), 'r' (racy file) or 'd' (directory)
//	file:    size uvarint, mtime 8 bytes, ctime-mtime zigzag varint,
//	         inode uvarint, mode uvarint, blob id 20 bytes
//	dir:     tree id 20 bytes, record length uvarint, record
//
// A record lists exactly the entries of the directory's tree, so it can
// stand in for the tree object (see Store.ReadTree). Files modified within
// racyWindow of the snapshot are racy: recorded, but read again next time.
type statCache struct {
	root string
	tree ID     // the cluster's tree id
	rec  []byte // the cluster directory's record
}

const (
	kindFile = 'f'
	kindRacy = 'r'
	kindDir  = 'd'
)

type fileStat struct {
	size, mtime, ctime int64
	ino                uint64
	mode               uint32
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

// loadStatCache returns the cache for the cluster dir root, or nil; an
// in-memory store keeps it between snapshots, a store on disk reads it from
// its file. A missing, foreign or damaged cache is no cache: it only saves
// work.
func (s *Store) loadStatCache(root string) (*statCache, error) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if s.cache != nil && s.cache.root == root {
		return s.cache, nil
	}
	if s.path == "" {
		return nil, nil
	}
	name := filepath.Join(s.path, statCacheFile)
	data, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: stat cache %s: %w", name, err)
	}
	if c, err := decodeStatCache(data); err == nil && c.root == root {
		return c, nil
	}
	return nil, nil
}

// saveStatCache keeps c for the next snapshot, and the snapshot's trees
// for reading, and writes c unless it is the cache that was loaded.
func (s *Store) saveStatCache(c *statCache, trees []treeRecord, changed bool) error {
	byID := make(map[ID][]byte, len(trees))
	for _, t := range trees {
		byID[t.id] = t.rec
	}
	s.cacheMu.Lock()
	s.cache, s.trees = c, byID
	s.cacheMu.Unlock()
	if s.path == "" || !changed {
		return nil
	}
	return writeFileAtomic(filepath.Join(s.path, statCacheFile), func(w io.Writer) error {
		_, err := w.Write(encodeStatCache(c))
		return err
	})
}

func encodeStatCache(c *statCache) []byte {
	b := make([]byte, 0, len(statCacheMagic)+1+binary.MaxVarintLen64+len(c.root)+len(c.tree)+len(c.rec)+4)
	b = append(b, statCacheMagic...)
	b = append(b, statCacheVersion)
	b = binary.AppendUvarint(b, uint64(len(c.root)))
	b = append(b, c.root...)
	b = append(b, c.tree[:]...)
	b = append(b, c.rec...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

var errBadCache = errors.New("not a stat cache of this version")

func decodeStatCache(data []byte) (*statCache, error) {
	head := len(statCacheMagic) + 1
	if len(data) < head+4 || string(data[:len(statCacheMagic)]) != statCacheMagic || data[head-1] != statCacheVersion {
		return nil, errBadCache
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, errBadCache
	}
	r := recordReader{b: body[head:]}
	root := r.bytes()
	c := &statCache{root: string(root)}
	r.id(&c.tree)
	if r.bad {
		return nil, errBadCache
	}
	c.rec = r.b
	return c, nil
}

// cachedEntry is one decoded entry of a directory record. name and rec
// alias the cache's bytes.
type cachedEntry struct {
	name []byte
	kind byte
	stat fileStat
	id   ID     // blob or tree
	rec  []byte // a directory's own record
}

// recordReader decodes a directory record entry by entry. Malformed data
// ends the record and sets bad, so a walk treats whatever follows as not
// cached, which is always safe.
type recordReader struct {
	b   []byte
	bad bool
}

func (r *recordReader) fail() {
	r.b, r.bad = nil, true
}

func (r *recordReader) uvarint() uint64 { return readVarint(r, binary.Uvarint) }

func (r *recordReader) varint() int64 { return readVarint(r, binary.Varint) }

// readVarint decodes one varint with decode, failing the reader on a
// truncated or overlong one.
func readVarint[T uint64 | int64](r *recordReader, decode func([]byte) (T, int)) T {
	v, n := decode(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) take(n uint64) []byte {
	if r.bad || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *recordReader) bytes() []byte { return r.take(r.uvarint()) }

func (r *recordReader) id(id *ID) { copy(id[:], r.take(uint64(len(id)))) }

// next decodes the next entry; ok is false at the end or on bad data.
func (r *recordReader) next() (e cachedEntry, ok bool) {
	if len(r.b) == 0 || r.bad {
		return e, false
	}
	e.name = r.bytes()
	kind := r.take(1)
	if r.bad || len(e.name) == 0 {
		r.fail()
		return e, false
	}
	e.kind = kind[0]
	switch e.kind {
	case kindFile, kindRacy:
		e.stat.size = int64(r.uvarint())
		if m := r.take(8); m != nil {
			e.stat.mtime = int64(binary.LittleEndian.Uint64(m))
		}
		e.stat.ctime = e.stat.mtime + r.varint()
		e.stat.ino = r.uvarint()
		e.stat.mode = uint32(r.uvarint())
		r.id(&e.id)
	case kindDir:
		r.id(&e.id)
		e.rec = r.bytes()
	default:
		r.fail()
	}
	return e, !r.bad
}

// seek returns the entry named name, skipping (and reporting) entries with
// smaller names: those were removed from the directory. Both the record and
// the walk go in byte order of names.
func (r *recordReader) seek(name string) (e cachedEntry, found, skipped bool) {
	for {
		save := *r
		e, ok := r.next()
		if !ok {
			return e, false, skipped
		}
		switch {
		case string(e.name) == name:
			return e, true, skipped
		case string(e.name) > name:
			*r = save
			return e, false, skipped
		}
		skipped = true
	}
}

// appendFileRecord and appendDirRecord encode entries in the layout
// described at statCache.
func appendFileRecord(b []byte, name string, kind byte, fs fileStat, blob ID) []byte {
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(fs.size))
	b = binary.LittleEndian.AppendUint64(b, uint64(fs.mtime))
	b = binary.AppendVarint(b, fs.ctime-fs.mtime)
	b = binary.AppendUvarint(b, fs.ino)
	b = binary.AppendUvarint(b, uint64(fs.mode))
	return append(b, blob[:]...)
}

func appendDirRecord(b []byte, name string, tree ID, rec []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	b = append(b, kindDir)
	b = append(b, tree[:]...)
	b = binary.AppendUvarint(b, uint64(len(rec)))
	return append(b, rec...)
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

// treeEntries turns a directory record back into its tree's entries, in
// Git order; ok is false for a damaged record.
func treeEntries(rec []byte) (entries []Entry, ok bool) {
	r := recordReader{b: rec}
	for e, more := r.next(); more; e, more = r.next() {
		entry := Entry{Name: string(e.name), Mode: ModeDir, ID: e.id}
		if e.kind != kindDir {
			entry.Mode = fileMode(e.stat.mode)
		}
		entries = append(entries, entry)
	}
	sortEntries(entries)
	return entries, !r.bad
}

func fileMode(mode uint32) filemode.FileMode {
	if mode&0o111 != 0 {
		return ModeExecutable
	}
	return ModeFile
}

// snapshotTree reads a tree of the last snapshot from its record.
func (s *Store) snapshotTree(id ID) ([]Entry, bool) {
	s.cacheMu.Lock()
	rec, ok := s.trees[id]
	s.cacheMu.Unlock()
	if !ok {
		return nil, false
	}
	return treeEntries(rec)
}
