package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/sys/unix"
)

// Refs in a store on disk are read and written here, not through go-git:
// go-git rewrites a ref file in place (truncate, then write), so a reader
// in another process can find it empty, and its reader then falls back to
// packed-refs and reports the ref as missing. A deploy that read main that
// way made a new root commit and moved main onto it: the whole history
// lost. Here every write is a new file renamed over the old one, under a
// lock shared by every deptool process, after checking that the ref is
// still where the caller saw it; a ref file that is empty or garbled is an
// error naming the file, never "no such ref".

// refsLockFile serializes ref updates between processes. It is held for
// the few milliseconds of a read-check-write, never across a deploy (that
// is deployLockFile's job).
const refsLockFile = "deptool-refs.lock"

// ErrRefMoved is returned when a ref is no longer where the caller saw it:
// someone else (another deptool, plain git) moved it in between.
var ErrRefMoved = errors.New("moved by someone else in the meantime")

// refPath is the loose file of ref name.
func (s *Store) refPath(name plumbing.ReferenceName) string {
	return filepath.Join(s.path, filepath.FromSlash(name.String()))
}

// ref reads name; ok is false when there is no such ref. A ref naming a
// commit the store does not hold is an error: extending it would make a
// history whose start is lost.
func (s *Store) ref(name plumbing.ReferenceName) (ID, bool, error) {
	id, ok, err := s.readRef(name)
	if err != nil || !ok {
		return id, ok, err
	}
	if !s.Has(id) {
		return ZeroID, false, fmt.Errorf("store: %s (%s) names %s, which is not in the store: the store is damaged; restore it from a copy or a teammate's clone",
			name, s.refWhere(name), id)
	}
	return id, true, nil
}

// refWhere names the file a ref lives in, for errors.
func (s *Store) refWhere(name plumbing.ReferenceName) string {
	if s.path == "" {
		return "in memory"
	}
	return s.refPath(name)
}

// readRef reads name without checking what it names.
func (s *Store) readRef(name plumbing.ReferenceName) (ID, bool, error) {
	if s.path == "" {
		s.objMu.Lock()
		defer s.objMu.Unlock()
		r, err := s.objects.Reference(name)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return ZeroID, false, nil
		}
		if err != nil {
			return ZeroID, false, fmt.Errorf("store: read %s: %w", name, err)
		}
		return ID(r.Hash()), true, nil
	}
	path := s.refPath(name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s.packedRef(name)
	}
	if err != nil {
		return ZeroID, false, fmt.Errorf("store: read %s: %w", name, err)
	}
	id, err := parseRefFile(data)
	if err != nil {
		return ZeroID, false, fmt.Errorf("store: %s: %w: the store is damaged; restore that file from a copy or a teammate's clone", path, err)
	}
	return id, true, nil
}

func parseRefFile(data []byte) (ID, error) {
	line := strings.TrimSpace(string(data))
	switch {
	case line == "":
		return ZeroID, errors.New("ref file is empty")
	case strings.HasPrefix(line, "ref: "):
		return ZeroID, fmt.Errorf("ref file is a symbolic ref (%s), not a commit id", line)
	}
	if !isHexID(line) {
		return ZeroID, fmt.Errorf("ref file holds %q, not a commit id", truncate(line, 60))
	}
	return ID(plumbing.NewHash(line)), nil
}

func isHexID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// packedRef looks name up in packed-refs, where `git pack-refs` and
// `git gc` move refs.
func (s *Store) packedRef(name plumbing.ReferenceName) (ID, bool, error) {
	refs, err := s.packedRefs()
	if err != nil {
		return ZeroID, false, err
	}
	id, ok := refs[name]
	return id, ok, nil
}

func (s *Store) packedRefs() (map[plumbing.ReferenceName]ID, error) {
	path := filepath.Join(s.path, "packed-refs")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", path, err)
	}
	out := map[plumbing.ReferenceName]ID{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '^' {
			continue // header, and peeled tags
		}
		hash, name, ok := strings.Cut(line, " ")
		if !ok || !isHexID(hash) {
			return nil, fmt.Errorf("store: %s line %d: %q is not \"<id> <ref>\": the store is damaged", path, n, truncate(line, 60))
		}
		out[plumbing.ReferenceName(name)] = ID(plumbing.NewHash(hash))
	}
	return out, nil
}

// refsUnder lists the refs whose names start with prefix, by the rest of
// their names.
func (s *Store) refsUnder(prefix string) (map[string]ID, error) {
	if s.path == "" {
		return s.memoryRefsUnder(prefix)
	}
	out := map[string]ID{}
	packed, err := s.packedRefs()
	if err != nil {
		return nil, err
	}
	for name, id := range packed {
		if rest, ok := strings.CutPrefix(name.String(), prefix); ok {
			out[rest] = id
		}
	}
	root := s.refPath(plumbing.ReferenceName(strings.TrimSuffix(prefix, "/")))
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == root {
			return filepath.SkipDir
		}
		if err != nil {
			return fmt.Errorf("store: list refs: %w", err)
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("store: list refs: %w", err)
		}
		id, err := parseRefFile(data)
		if err != nil {
			return fmt.Errorf("store: %s: %w: the store is damaged; restore the file from a copy, or delete it if that ref does not matter", path, err)
		}
		out[filepath.ToSlash(rel)] = id // a loose ref wins over its packed copy
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) memoryRefsUnder(prefix string) (map[string]ID, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	iter, err := s.objects.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("store: list refs: %w", err)
	}
	out := map[string]ID{}
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if name, ok := strings.CutPrefix(r.Name().String(), prefix); ok && r.Type() == plumbing.HashReference {
			out[name] = ID(r.Hash())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list refs: %w", err)
	}
	return out, nil
}

// withRefsLocked runs fn holding the lock on ref updates, across
// goroutines and processes.
func (s *Store) withRefsLocked(fn func() error) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	if s.path == "" {
		return fn()
	}
	path := filepath.Join(s.path, refsLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("store: lock refs: %w", err)
	}
	defer f.Close()
	// Blocking: holders hold it for one ref write.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("store: lock refs %s: %w", path, err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return fn()
}

// update moves ref name to what next computes from the ref's present value
// (ok false: no such ref yet), all under the refs lock, so nobody moves it
// in between. With grow set the new commit must descend from the old one:
// main and the outcome notes are histories that only grow.
func (s *Store) update(name plumbing.ReferenceName, grow bool, next func(old ID, ok bool) (ID, error)) (ID, error) {
	var id ID
	err := s.withRefsLocked(func() error {
		old, ok, err := s.ref(name)
		if err != nil {
			return err
		}
		if id, err = next(old, ok); err != nil {
			return err
		}
		if grow && ok {
			if err := s.mustDescend(name, id, old); err != nil {
				return err
			}
		}
		return s.writeRef(name, id)
	})
	return id, err
}

// setRef moves name from old (zero: no such ref) to id, refusing if it is
// not at old any more: two writers must not silently lose a commit.
func (s *Store) setRef(name plumbing.ReferenceName, id, old ID) error {
	_, err := s.update(name, false, func(cur ID, ok bool) (ID, error) {
		if cur != old {
			now := "gone"
			if ok {
				now = cur.String()
			}
			return ZeroID, fmt.Errorf("store: move %s to %s: it was at %s and is now %s: %w; run again", name, id, old, now, ErrRefMoved)
		}
		return id, nil
	})
	return err
}

// mustDescend refuses to move name from old to id unless old is an
// ancestor of id.
func (s *Store) mustDescend(name plumbing.ReferenceName, id, old ID) error {
	if id == old {
		return nil
	}
	seen := map[ID]bool{}
	queue := []ID{id}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == old {
			return nil
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		info, err := s.CommitInfo(c)
		if err != nil {
			return fmt.Errorf("store: move %s to %s: %w", name, id, err)
		}
		queue = append(queue, info.Parents...)
	}
	return fmt.Errorf("store: refusing to move %s from %s to %s, which does not descend from it: history only grows", name, old, id)
}

// writeRef writes name's file as a new file renamed into place, so a reader
// sees the old id or the new one, never a part; the directory is synced so
// the rename survives a crash.
func (s *Store) writeRef(name plumbing.ReferenceName, id ID) error {
	if s.path == "" {
		s.objMu.Lock()
		defer s.objMu.Unlock()
		if err := s.objects.SetReference(plumbing.NewHashReference(name, id.Hash())); err != nil {
			return fmt.Errorf("store: move %s to %s: %w", name, id, err)
		}
		return nil
	}
	path := s.refPath(name)
	// The temp file is made in the store's own directory, never among the
	// refs, where a crash would leave it for Git to list as a broken ref.
	if err := replaceFile(s.path, path, []byte(id.String()+"\n")); err != nil {
		return fmt.Errorf("store: move %s to %s: %w", name, id, err)
	}
	return nil
}

// removeRef deletes name, loose and packed, under the refs lock.
func (s *Store) removeRef(name plumbing.ReferenceName) error {
	return s.withRefsLocked(func() error {
		s.objMu.Lock()
		defer s.objMu.Unlock()
		if err := s.objects.RemoveReference(name); err != nil {
			return fmt.Errorf("store: delete %s (%s): %w", name, s.refWhere(name), err)
		}
		return nil
	})
}

// replaceFile replaces path with data: a temp file in tmpDir (on the
// same file system), synced, renamed over path, and path's directory synced.
func replaceFile(tmpDir, path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(tmpDir, ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
