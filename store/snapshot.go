package store

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/sourcegraph/conc"
	"golang.org/x/sys/unix"
)

// Snapshot is a config tree hashed into the store. Taking one writes objects
// but moves no ref, so planning from it has no side effect that matters.
type Snapshot struct {
	// Tree is the cluster tree: one subtree per host, one per app below it.
	Tree ID
	// Irregular lists paths (relative to the cluster dir, slash-separated)
	// that are neither regular files nor directories. They are left out of
	// Tree; validation turns them into errors.
	Irregular []Irregular
	// Ignored lists entries outside any app directory (files at the cluster
	// or host level, hidden entries). They are left out of Tree.
	Ignored []string
}

// Irregular is a path that cannot be deployed, and what it is.
type Irregular struct {
	Path string
	Kind string // "symlink", "device", "socket", "named pipe"; "name" for a bad name
	// Reason says what is wrong with the name, for Kind "name".
	Reason string `json:",omitempty"`
}

// Snapshot hashes the config tree in dir into the store. Files whose size,
// times, inode and mode match the stat cache are not read again, and
// directories whose entries all match it are not hashed again, which is
// what makes re-planning a large unchanged tree cheap. Every file is still
// lstat'ed: a content edit changes neither its directory's mtime nor any
// other directory's.
func (s *Store) Snapshot(dir string) (*Snapshot, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("config tree %s: %w", dir, err)
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("config tree: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("config tree %s: not a directory", dir)
	}
	// Taken before any file is read: a file modified after this may have
	// been read before the change, within one timestamp tick of it.
	trustBefore := s.now().Add(-racyWindow).UnixNano()
	old, err := s.loadStatCache(abs)
	if err != nil {
		return nil, err
	}
	w := &walker{store: s, root: abs, trustBefore: trustBefore}
	snap, res, trees, err := w.cluster(old)
	if err != nil {
		return nil, err
	}
	fresh := &statCache{root: abs, tree: res.id, rec: res.rec}
	if err := s.saveStatCache(fresh, trees, !res.same); err != nil {
		return nil, err
	}
	return snap, nil
}

// walker hashes one config tree. Hosts are walked in parallel, each by one
// worker from start to end, so workers share nothing mutable.
type walker struct {
	store *Store
	root  string
	// trustBefore is a time in Unix nanoseconds: files whose mtime and
	// ctime are no later are remembered in the cache, others read again.
	trustBefore int64
}

// level says what a directory's entries are to the tree.
type level int

const (
	clusterLevel level = iota // hosts
	hostLevel                 // apps
	appLevel                  // an app's files and directories, at any depth
)

// dirResult is one hashed directory.
type dirResult struct {
	id   ID
	rec  []byte // its record for the new cache
	same bool   // id and rec are the cached ones: nothing below changed
}

// child is an entry of a directory that goes into its tree.
type child struct {
	name    string
	mode    filemode.FileMode
	id      ID
	stat    fileStat // files
	trusted bool     // files: old enough to be remembered
	hit     bool     // files: as cached, so not read
	rec     []byte   // directories
	same    bool     // directories: as cached, all the way down
	old     cachedEntry
}

// collector gathers, for one worker, what the walk finds besides the tree.
type collector struct {
	irregular []Irregular
	ignored   []string
	trees     []treeRecord
	buf       []byte // getdents scratch
}

// treeRecord is a directory's tree id and the record listing its entries.
type treeRecord struct {
	id  ID
	rec []byte
}

func newCollector() *collector { return &collector{buf: make([]byte, direntBufSize)} }

func (w *walker) cluster(old *statCache) (*Snapshot, dirResult, []treeRecord, error) {
	fd, err := unix.Open(w.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, dirResult{}, nil, w.errorf("", err)
	}
	defer unix.Close(fd)
	var top cachedEntry
	if old != nil {
		top = cachedEntry{kind: kindDir, id: old.tree, rec: old.rec}
	}
	c := newCollector()
	res, err := w.dir(c, fd, "", clusterLevel, top)
	if err != nil {
		return nil, dirResult{}, nil, err
	}
	sort.Slice(c.irregular, func(i, j int) bool { return c.irregular[i].Path < c.irregular[j].Path })
	sort.Strings(c.ignored)
	return &Snapshot{Tree: res.id, Irregular: c.irregular, Ignored: c.ignored}, res, c.trees, nil
}

// dir hashes the directory open as fd, rel being its slash path below the
// cluster directory and old its entry in the cache (kind 0 when it has
// none).
func (w *walker) dir(c *collector, fd int, rel string, lvl level, old cachedEntry) (dirResult, error) {
	ents, err := readDirents(fd, c.buf)
	if err != nil {
		return dirResult{}, w.errorf(rel, err)
	}
	cached := recordReader{b: old.rec}
	same := old.kind == kindDir
	children := make([]child, 0, len(ents))
	for _, e := range ents {
		ch, keep, err := w.entry(c, fd, rel, lvl, e)
		if err != nil {
			return dirResult{}, err
		}
		if !keep {
			continue
		}
		ce, found, skipped := cached.seek(e.name)
		if found {
			ch.old = ce
		}
		same = same && found && !skipped
		if ch.mode != ModeDir {
			if err := w.file(&ch, join(rel, ch.name)); err != nil {
				return dirResult{}, err
			}
			same = same && ch.hit
		}
		children = append(children, ch)
	}
	if _, more := cached.next(); more || cached.bad {
		same = false // entries were removed, or the record is damaged
	}
	if lvl == clusterLevel {
		err = w.hosts(c, fd, children)
	} else {
		err = w.subdirs(c, fd, rel, lvl, children)
	}
	if err != nil {
		return dirResult{}, err
	}
	for _, ch := range children {
		same = same && (ch.mode != ModeDir || ch.same)
	}
	res := dirResult{id: old.id, rec: old.rec, same: true}
	if !same {
		if res, err = w.hashDir(children, old); err != nil {
			return dirResult{}, err
		}
	}
	c.trees = append(c.trees, treeRecord{res.id, res.rec})
	return res, nil
}

// entry classifies one name of a directory: into the tree (keep), or
// recorded as ignored or irregular. It lstats what getdents did not type,
// and every file, whose stat fields the cache compares.
func (w *walker) entry(c *collector, fd int, rel string, lvl level, e dirent) (ch child, keep bool, err error) {
	typ := e.typ
	var st unix.Stat_t
	if typ == unix.DT_UNKNOWN || lvl == appLevel && typ == unix.DT_REG {
		if err := unix.Fstatat(fd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return ch, false, w.errorf(join(rel, e.name), err)
		}
		typ = uint8((st.Mode & unix.S_IFMT) >> 12) // DT_* are S_IF* shifted
	}
	hidden := strings.HasPrefix(e.name, ".")
	keepDir := typ == unix.DT_DIR && (lvl == appLevel || !hidden)
	keepFile := typ == unix.DT_REG && lvl == appLevel
	if reason := badName(e.name); reason != "" && (keepDir || keepFile) {
		// Left out of the tree, so no object the store cannot hold is
		// ever written; validation reports it.
		c.irregular = append(c.irregular, Irregular{Path: join(rel, e.name), Kind: "name", Reason: reason})
		return ch, false, nil
	}
	switch {
	case keepDir:
		return child{name: e.name, mode: ModeDir}, true, nil
	case keepFile:
		return child{name: e.name, mode: fileMode(st.Mode), stat: statOf(&st)}, true, nil
	case typ == unix.DT_DIR || typ == unix.DT_REG || lvl == clusterLevel && hidden:
		c.ignored = append(c.ignored, join(rel, e.name))
	default:
		c.irregular = append(c.irregular, Irregular{Path: join(rel, e.name), Kind: kindOfType(typ)})
	}
	return ch, false, nil
}

// file sets a file's blob id: the cached one when its stat fields match and
// it was old enough to be trusted, else by reading it.
func (w *walker) file(ch *child, rel string) error {
	ch.trusted = ch.stat.mtime <= w.trustBefore && ch.stat.ctime <= w.trustBefore
	if ch.trusted && ch.old.kind == kindFile && ch.old.stat == ch.stat {
		ch.id, ch.hit = ch.old.id, true
		return nil
	}
	path := filepath.Join(w.root, filepath.FromSlash(rel))
	if ch.stat.size > largeObject && w.store.path != "" {
		var err error
		ch.id, err = w.store.writeFileBlob(path, ch.stat.size)
		return err
	}
	data, err := w.store.readFile(path)
	if err != nil {
		return fmt.Errorf("config tree: %w", err)
	}
	ch.id, err = w.store.WriteBlob(data)
	return err
}

// subdirs hashes the directories among children, in order.
func (w *walker) subdirs(c *collector, fd int, rel string, lvl level, children []child) error {
	for i := range children {
		ch := &children[i]
		if ch.mode != ModeDir {
			continue
		}
		res, err := w.subdir(c, fd, join(rel, ch.name), ch.name, min(lvl+1, appLevel), ch.old)
		if err != nil {
			return err
		}
		ch.id, ch.rec, ch.same = res.id, res.rec, res.same
	}
	return nil
}

// hosts hashes the host directories on GOMAXPROCS workers. Each worker
// collects into its own collector per host, and the results are merged in
// host order, so the snapshot does not depend on scheduling.
func (w *walker) hosts(c *collector, fd int, children []child) error {
	type result struct {
		res       dirResult
		irregular []Irregular
		ignored   []string
		trees     []treeRecord
		err       error
	}
	results := make([]result, len(children))
	var next atomic.Int64
	var wg conc.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(children)) {
		wg.Go(func() {
			wc := newCollector()
			for i := int(next.Add(1) - 1); i < len(children); i = int(next.Add(1) - 1) {
				wc.irregular, wc.ignored, wc.trees = nil, nil, nil
				r := &results[i]
				r.res, r.err = w.subdir(wc, fd, children[i].name, children[i].name, hostLevel, children[i].old)
				r.irregular, r.ignored, r.trees = wc.irregular, wc.ignored, wc.trees
			}
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			return r.err
		}
		children[i].id, children[i].rec, children[i].same = r.res.id, r.res.rec, r.res.same
		c.irregular = append(c.irregular, r.irregular...)
		c.ignored = append(c.ignored, r.ignored...)
		c.trees = append(c.trees, r.trees...)
	}
	return nil
}

// subdir opens name relative to its parent's descriptor, which spares the
// kernel resolving the whole path for every directory.
func (w *walker) subdir(c *collector, parent int, rel, name string, lvl level, old cachedEntry) (dirResult, error) {
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return dirResult{}, w.errorf(rel, err)
	}
	defer unix.Close(fd)
	if old.kind != kindDir {
		old = cachedEntry{}
	}
	return w.dir(c, fd, rel, lvl, old)
}

// hashDir writes a directory's tree, unless the last snapshot wrote the
// same one, and encodes its new cache record.
func (w *walker) hashDir(children []child, old cachedEntry) (dirResult, error) {
	entries := make([]Entry, len(children))
	var rec []byte
	for i, ch := range children {
		entries[i] = Entry{Name: ch.name, Mode: ch.mode, ID: ch.id}
		switch {
		case ch.mode == ModeDir:
			rec = appendDirRecord(rec, ch.name, ch.id, ch.rec)
		case ch.trusted:
			rec = appendFileRecord(rec, ch.name, kindFile, ch.stat, ch.id)
		default:
			rec = appendFileRecord(rec, ch.name, kindRacy, ch.stat, ch.id)
		}
	}
	obj, err := encodeTree(entries)
	if err != nil {
		return dirResult{}, err
	}
	id := ID(obj.Hash())
	if old.kind != kindDir || id != old.id {
		if _, err := w.store.put(obj); err != nil {
			return dirResult{}, err
		}
	}
	if rec == nil {
		rec = []byte{} // an empty directory still has a record, unlike one never walked
	}
	return dirResult{id: id, rec: rec}, nil
}

func (w *walker) errorf(rel string, err error) error {
	return fmt.Errorf("config tree %s: %w", filepath.Join(w.root, filepath.FromSlash(rel)), err)
}

func join(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

func kindOfType(typ uint8) string {
	switch typ {
	case unix.DT_LNK:
		return "symlink"
	case unix.DT_FIFO:
		return "named pipe"
	case unix.DT_SOCK:
		return "socket"
	case unix.DT_CHR, unix.DT_BLK:
		return "device"
	}
	return "special file"
}
