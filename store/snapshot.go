package store

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/sourcegraph/conc/pool"
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
	Kind string // "symlink", "device", "socket", "named pipe"
}

// Snapshot hashes the config tree in dir into the store. Files whose size,
// times, inode and mode match the stat cache are not read again, which is
// what makes re-planning a large unchanged tree cheap.
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
	old, err := s.loadStatCache(abs)
	if err != nil {
		return nil, err
	}
	w := &walker{store: s, root: abs, old: old}
	snap, fresh, err := w.cluster()
	if err != nil {
		return nil, err
	}
	if err := s.saveStatCache(abs, old, fresh); err != nil {
		return nil, err
	}
	return snap, nil
}

// walker hashes one config tree. Hosts are walked in parallel; each host's
// results are merged once it is done, so workers share nothing mutable.
type walker struct {
	store *Store
	root  string
	old   *statCache
}

// hostResult is what walking one host yields.
type hostResult struct {
	entry     Entry
	irregular []Irregular
	ignored   []string
	files     map[string]fileStat // this host's part of the new stat cache
	old       map[string]fileStat // and of the old one
	trees     []ID
}

func (w *walker) cluster() (*Snapshot, *statCache, error) {
	entries, err := os.ReadDir(w.root)
	if err != nil {
		return nil, nil, fmt.Errorf("config tree: %w", err)
	}
	snap := &Snapshot{}
	fresh := newStatCache()
	p := pool.NewWithResults[hostResult]().WithErrors().WithMaxGoroutines(2 * runtime.GOMAXPROCS(0))
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."):
			snap.Ignored = append(snap.Ignored, name)
		case e.Type().IsRegular():
			snap.Ignored = append(snap.Ignored, name)
		case e.IsDir():
			p.Go(func() (hostResult, error) { return w.host(name) })
		default:
			snap.Irregular = append(snap.Irregular, Irregular{Path: name, Kind: kindOf(e.Type())})
		}
	}
	results, err := p.Wait()
	if err != nil {
		return nil, nil, err
	}
	hosts := make([]Entry, 0, len(results))
	for _, r := range results {
		hosts = append(hosts, r.entry)
		snap.Irregular = append(snap.Irregular, r.irregular...)
		snap.Ignored = append(snap.Ignored, r.ignored...)
		fresh.files[r.entry.Name] = r.files
		fresh.trees = append(fresh.trees, r.trees...)
	}
	snap.Tree, err = w.tree(hosts, fresh)
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(snap.Irregular, func(i, j int) bool { return snap.Irregular[i].Path < snap.Irregular[j].Path })
	sort.Strings(snap.Ignored)
	return snap, fresh, nil
}

// host walks one host directory: its subdirectories are apps, anything else
// is not deployed.
func (w *walker) host(name string) (hostResult, error) {
	old := w.old.files[name]
	r := hostResult{files: make(map[string]fileStat, len(old)), old: old}
	entries, err := os.ReadDir(filepath.Join(w.root, name))
	if err != nil {
		return r, fmt.Errorf("config tree: %w", err)
	}
	var apps []Entry
	for _, e := range entries {
		rel := name + "/" + e.Name()
		switch {
		case e.IsDir() && !strings.HasPrefix(e.Name(), "."):
			id, err := w.dir(rel, &r)
			if err != nil {
				return r, err
			}
			apps = append(apps, Entry{Name: e.Name(), Mode: ModeDir, ID: id})
		case e.IsDir() || e.Type().IsRegular():
			r.ignored = append(r.ignored, rel)
		default:
			r.irregular = append(r.irregular, Irregular{Path: rel, Kind: kindOf(e.Type())})
		}
	}
	fresh := &statCache{}
	id, err := w.tree(apps, fresh)
	r.trees = append(r.trees, fresh.trees...)
	r.entry = Entry{Name: name, Mode: ModeDir, ID: id}
	return r, err
}

// dir hashes a directory inside an app, recursively.
func (w *walker) dir(rel string, r *hostResult) (ID, error) {
	f, err := os.Open(filepath.Join(w.root, filepath.FromSlash(rel)))
	if err != nil {
		return ZeroID, fmt.Errorf("config tree: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return ZeroID, fmt.Errorf("config tree: %s: %w", rel, err)
	}
	entries := make([]Entry, 0, len(names))
	for _, name := range names {
		child := path.Join(rel, name)
		var st unix.Stat_t
		if err := unix.Fstatat(int(f.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return ZeroID, fmt.Errorf("config tree: %s: %w", child, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			id, err := w.dir(child, r)
			if err != nil {
				return ZeroID, err
			}
			entries = append(entries, Entry{Name: name, Mode: ModeDir, ID: id})
		case unix.S_IFREG:
			e, err := w.file(child, name, &st, r)
			if err != nil {
				return ZeroID, err
			}
			entries = append(entries, e)
		default:
			r.irregular = append(r.irregular, Irregular{Path: child, Kind: kindOfStat(st.Mode)})
		}
	}
	fresh := &statCache{}
	id, err := w.tree(entries, fresh)
	r.trees = append(r.trees, fresh.trees...)
	return id, err
}

func (w *walker) file(rel, name string, st *unix.Stat_t, r *hostResult) (Entry, error) {
	mode := ModeFile
	if st.Mode&0o111 != 0 {
		mode = ModeExecutable
	}
	fs := statOf(st)
	if cached, ok := r.old[rel]; ok && cached.sameFile(fs) {
		fs.blob = cached.blob
	} else {
		data, err := w.store.readFile(filepath.Join(w.root, filepath.FromSlash(rel)))
		if err != nil {
			return Entry{}, fmt.Errorf("config tree: %w", err)
		}
		if fs.blob, err = w.store.WriteBlob(data); err != nil {
			return Entry{}, err
		}
	}
	r.files[rel] = fs
	return Entry{Name: name, Mode: mode, ID: fs.blob}, nil
}

// tree hashes entries in memory and writes the tree only when the last
// snapshot did not already write it.
func (w *walker) tree(entries []Entry, fresh *statCache) (ID, error) {
	obj, err := encodeTree(entries)
	if err != nil {
		return ZeroID, err
	}
	id := obj.Hash()
	fresh.trees = append(fresh.trees, id)
	if w.old.hasTree(id) {
		return id, nil
	}
	return w.store.put(obj)
}

func kindOf(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "symlink"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

func kindOfStat(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "named pipe"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "device"
	}
	return "special file"
}
