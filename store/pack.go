package store

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// WritePack writes a Git packfile holding every object reachable from the
// commits in wants that is not reachable from the commits in haves, and
// returns how many objects it holds. haves are commits the receiver already
// has; those this store does not know are skipped, which only makes the
// pack larger, never wrong. The pack is made into a spool and copied to w
// after the store is free again, so a slow w delays only its own caller.
func (s *Store) WritePack(w io.Writer, wants, haves []ID) (int, error) {
	sp := newSpool(s.spoolDir())
	defer sp.close()
	n, err := s.encodePack(sp, wants, haves)
	if err != nil {
		return 0, err
	}
	r, err := sp.reader()
	if err == nil {
		_, err = io.Copy(w, r)
	}
	if err != nil {
		return 0, fmt.Errorf("store: write pack: %w", err)
	}
	return n, nil
}

// objectsToSend are the objects reachable from wants and not from the
// haves this store knows (a have it lacks says nothing of what it
// reaches). The caller holds objMu.
func (s *Store) objectsToSend(wants, haves []ID) ([]plumbing.Hash, error) {
	known := make([]ID, 0, len(haves))
	for _, h := range haves {
		if !h.IsZero() && s.objects.HasEncodedObject(h.Hash()) == nil {
			known = append(known, h)
		}
	}
	objs, err := revlist.Objects(s.objects, hashes(wants), hashes(known))
	if err != nil {
		return nil, fmt.Errorf("list objects to send: %w", err)
	}
	return objs, nil
}

func (s *Store) encodePack(w io.Writer, wants, haves []ID) (int, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	objs, err := s.objectsToSend(wants, haves)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	// Deltas would shrink the pack a little for configs that change a line
	// at a time, at a CPU cost paid on every deploy; packs here are small.
	if _, err := packfile.NewEncoder(w, s.objects, false).Encode(objs, 0); err != nil {
		return 0, fmt.Errorf("store: write pack: %w", err)
	}
	return len(objs), nil
}

// spoolDir is where WritePack's spool spills over: among the packs, where
// the store's clean-up finds what a crash left.
func (s *Store) spoolDir() string {
	if s.path == "" {
		return ""
	}
	return s.packDir()
}

// ReadPack stores the objects of the packfile read from r. When that
// fails half way (a full disk, a cut stream), the files it began are
// removed: go-git leaves its temp pack behind, and an index it was writing,
// and a full disk stays full.
func (s *Store) ReadPack(r io.Reader) error {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	st, ok := s.objects.(storer.Storer)
	if !ok {
		return fmt.Errorf("store: read pack: storage cannot take packs")
	}
	before := s.packFiles()
	err := packfile.UpdateObjectStorage(st, r)
	if err == nil {
		return nil
	}
	if s.path != "" {
		for name := range s.packFiles() {
			if !before[name] && !completePack(s.packDir(), name) {
				os.Remove(filepath.Join(s.packDir(), name))
			}
		}
	}
	return fmt.Errorf("store: read pack: %w", err)
}

func (s *Store) packDir() string { return filepath.Join(s.path, "objects", "pack") }

// packFiles lists the files of the pack directory by name. Callers hold
// objMu, so within this process nobody else is writing a pack.
func (s *Store) packFiles() map[string]bool {
	out := map[string]bool{}
	if s.path == "" {
		return out
	}
	entries, _ := os.ReadDir(s.packDir())
	for _, e := range entries {
		out[e.Name()] = true
	}
	return out
}

// completePack reports whether name is one half of a pack whose other half
// is there too: go-git writes the index, then renames the pack into place,
// so an index alone, or a temp pack, is a write that did not finish.
func completePack(dir, name string) bool {
	base, ok := strings.CutSuffix(name, ".idx")
	if !ok {
		base, ok = strings.CutSuffix(name, ".pack")
	}
	if !ok || !strings.HasPrefix(name, "pack-") {
		return false
	}
	_, errPack := os.Stat(filepath.Join(dir, base+".pack"))
	_, errIdx := os.Stat(filepath.Join(dir, base+".idx"))
	return errPack == nil && errIdx == nil
}

// CleanPacks removes what interrupted pack writes left in the store: temp
// packs (tmp_pack_*) and indexes without their pack. Only its owner may
// call it, holding whatever lock keeps other writers out (the host's lock
// on a host), or it would remove a pack being written. It returns the bytes
// freed.
func (s *Store) CleanPacks() (int64, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	if s.path == "" {
		return 0, nil
	}
	var freed int64
	for name := range s.packFiles() {
		if completePack(s.packDir(), name) || !(strings.HasPrefix(name, "tmp_pack_") || strings.HasPrefix(name, "pack-")) {
			continue
		}
		path := filepath.Join(s.packDir(), name)
		info, err := os.Lstat(path)
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if err := os.Remove(path); err != nil {
			return freed, fmt.Errorf("store: remove the unfinished pack %s: %w", path, err)
		}
		freed += info.Size()
	}
	return freed, nil
}

// Reachable lists every object reachable from the commits in from: what a
// store holding them must contain.
func (s *Store) Reachable(from ...ID) ([]ID, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	objs, err := revlist.Objects(s.objects, hashes(from), nil)
	if err != nil {
		return nil, fmt.Errorf("store: list objects: %w", err)
	}
	return ids(objs), nil
}

// Missing looks for an object reachable from commits that the store does
// not hold, and returns the first it finds: a store that lost a pack (or
// was deleted and started again) still has its refs, and a pack made
// against those refs would leave it without what they name.
func (s *Store) Missing(commits ...ID) (ID, bool, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	seen := map[ID]bool{}
	var walk func(tree ID) (ID, bool, error)
	walk = func(tree ID) (ID, bool, error) {
		if seen[tree] || tree == EmptyTree {
			return ZeroID, false, nil
		}
		seen[tree] = true
		t, err := object.GetTree(s.objects, tree.Hash())
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return tree, true, nil
		}
		if err != nil {
			return ZeroID, false, fmt.Errorf("store: read tree %s: %w", tree, err)
		}
		for _, e := range t.Entries {
			id := ID(e.Hash)
			if e.Mode == filemode.Dir {
				if id, ok, err := walk(id); ok || err != nil {
					return id, ok, err
				}
				continue
			}
			if !seen[id] {
				seen[id] = true
				if s.objects.HasEncodedObject(e.Hash) != nil {
					return id, true, nil
				}
			}
		}
		return ZeroID, false, nil
	}
	for _, c := range commits {
		if c.IsZero() {
			continue
		}
		commit, err := object.GetCommit(s.objects, c.Hash())
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return c, true, nil
		}
		if err != nil {
			return ZeroID, false, fmt.Errorf("store: read commit %s: %w", c, err)
		}
		if id, ok, err := walk(ID(commit.TreeHash)); ok || err != nil {
			return id, ok, err
		}
	}
	return ZeroID, false, nil
}

// Repack rewrites the store as one pack of what is reachable from keep
// (full histories) and deletes every other pack and loose object: objects
// of attempts that were rolled back, and the copies a repair sent again.
// Like CleanPacks, only the store's owner may call it, holding the lock
// that keeps other writers out. The new pack is stored before anything is
// deleted, so a crash half way leaves copies, never a loss. It returns the
// bytes freed.
func (s *Store) Repack(keep ...ID) (int64, error) {
	if s.path == "" {
		return 0, nil
	}
	var wants []ID
	for _, id := range keep {
		if !id.IsZero() {
			wants = append(wants, id)
		}
	}
	if len(wants) == 0 {
		return 0, nil
	}
	tmp, err := os.CreateTemp(s.packDir(), "tmp_pack_repack_")
	if err != nil {
		return 0, fmt.Errorf("store: repack: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := s.encodePack(tmp, wants, nil); err != nil {
		return 0, fmt.Errorf("store: repack: %w", err)
	}
	// The pack's name is its trailing checksum: the one pack to keep,
	// whether ReadPack writes it anew or finds it there already.
	info, err := tmp.Stat()
	if err != nil {
		return 0, fmt.Errorf("store: repack: %w", err)
	}
	sum := make([]byte, 20)
	if _, err := tmp.ReadAt(sum, info.Size()-20); err != nil {
		return 0, fmt.Errorf("store: repack: %w", err)
	}
	name := fmt.Sprintf("pack-%x", sum)
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("store: repack: %w", err)
	}
	if err := s.ReadPack(tmp); err != nil {
		return 0, fmt.Errorf("store: repack: %w", err)
	}
	if !completePack(s.packDir(), name+".pack") {
		return 0, fmt.Errorf("store: repack: %s was not written", name)
	}
	s.objMu.Lock()
	defer s.objMu.Unlock()
	// go-git keeps the pack indexes it read: forget them, or it would look
	// for objects in the packs deleted here.
	defer func() {
		if r, ok := s.objects.(interface{ Reindex() }); ok {
			r.Reindex()
		}
	}()
	var freed int64
	remove := func(path string) error {
		info, err := os.Lstat(path)
		if err != nil || !info.Mode().IsRegular() {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("store: repack: %w", err)
		}
		freed += info.Size()
		return nil
	}
	for file := range s.packFiles() {
		if strings.HasPrefix(file, "pack-") && !strings.HasPrefix(file, name+".") {
			if err := remove(filepath.Join(s.packDir(), file)); err != nil {
				return freed, err
			}
		}
	}
	dirs, _ := os.ReadDir(filepath.Join(s.path, "objects"))
	for _, d := range dirs {
		if !d.IsDir() || len(d.Name()) != 2 || !isHexID(d.Name()+strings.Repeat("0", 38)) {
			continue // pack/, info/
		}
		dir := filepath.Join(s.path, "objects", d.Name())
		loose, _ := os.ReadDir(dir)
		for _, o := range loose {
			if err := remove(filepath.Join(dir, o.Name())); err != nil {
				return freed, err
			}
		}
		os.Remove(dir)
	}
	return freed, nil
}

// Packs counts the store's packs.
func (s *Store) Packs() int {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	n := 0
	for name := range s.packFiles() {
		if strings.HasPrefix(name, "pack-") && strings.HasSuffix(name, ".pack") {
			n++
		}
	}
	return n
}

// DamagedPack is a pack whose bytes no longer match its checksums (a disk
// that flipped bits, a hand edit): objects in it may fail to read, or read
// wrong, so the store cannot be trusted to hold them.
type DamagedPack struct {
	Name   string // pack-<hash>, without .pack or .idx
	Reason string
}

// DamagedPacks checks every complete pack against the SHA-1 checksums Git
// writes at the end of each pack and index. Packs are never rewritten in
// place, so any difference is damage. Reading every pack costs about
// 1.5 ms per MiB (45 ms for a 32 MiB pack), paid once per deploy on a host
// store that gc keeps small; decoding each object would cost far more.
func (s *Store) DamagedPacks() ([]DamagedPack, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	return s.damagedPacks()
}

func (s *Store) damagedPacks() ([]DamagedPack, error) {
	if s.path == "" {
		return nil, nil
	}
	var out []DamagedPack
	names := s.packFiles()
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		base, ok := strings.CutSuffix(name, ".pack")
		if !ok || !strings.HasPrefix(name, "pack-") || !completePack(s.packDir(), name) {
			continue
		}
		reason, err := checkPack(filepath.Join(s.packDir(), base))
		if errors.Is(err, os.ErrNotExist) {
			continue // a gc under the lock removed it while a reader without the lock looked
		}
		if err != nil {
			return nil, err
		}
		if reason != "" {
			out = append(out, DamagedPack{Name: base, Reason: reason})
		}
	}
	return out, nil
}

// checkPack returns why the pack at base(.pack, .idx) is damaged, or "".
func checkPack(base string) (string, error) {
	packSum, packTrailer, err := fileChecksum(base + ".pack")
	if err != nil {
		return "", err
	}
	if packSum == nil {
		return "the pack is too short", nil
	}
	if !bytes.Equal(packSum, packTrailer) {
		return "the pack does not match its checksum", nil
	}
	idxSum, idxTrailer, err := fileChecksum(base + ".idx")
	if err != nil {
		return "", err
	}
	if idxSum == nil {
		return "the index is too short", nil
	}
	if !bytes.Equal(idxSum, idxTrailer) {
		return "the index does not match its checksum", nil
	}
	// An index ends with the pack's checksum, then its own.
	f, err := os.Open(base + ".idx")
	if err != nil {
		return "", fmt.Errorf("store: check %s.idx: %w", base, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < 2*sha1.Size {
		return "the index is too short", nil
	}
	named := make([]byte, sha1.Size)
	if _, err := f.ReadAt(named, fi.Size()-2*sha1.Size); err != nil {
		return "", fmt.Errorf("store: check %s.idx: %w", base, err)
	}
	if !bytes.Equal(named, packTrailer) {
		return "the index belongs to another pack", nil
	}
	return "", nil
}

// fileChecksum returns the SHA-1 of the file at path without its last 20
// bytes, and those bytes; nil sums when the file is shorter than that.
func fileChecksum(path string) (sum, trailer []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("store: check %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("store: check %s: %w", path, err)
	}
	if fi.Size() < sha1.Size {
		return nil, nil, nil
	}
	h := sha1.New()
	if _, err := io.CopyN(h, f, fi.Size()-sha1.Size); err != nil {
		return nil, nil, fmt.Errorf("store: check %s: %w", path, err)
	}
	trailer = make([]byte, sha1.Size)
	if _, err := io.ReadFull(f, trailer); err != nil {
		return nil, nil, fmt.Errorf("store: check %s: %w", path, err)
	}
	return h.Sum(nil), trailer, nil
}

// SetAsideDamagedPacks moves the damaged packs (see DamagedPacks) out of
// the object directory into damaged/ beside it, and returns them. They are
// kept, not deleted: objects of histories no operator holds any more may
// still be read from them by hand, and the evidence of a failing disk is
// worth a few bytes. The objects they held then read as missing, which a
// pack of whole histories restores. Like CleanPacks, only the store's owner
// may call it, holding its lock; the Store is stale afterwards (go-git
// keeps the indexes it read) and must be opened again.
func (s *Store) SetAsideDamagedPacks() ([]DamagedPack, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	damaged, err := s.damagedPacks()
	if err != nil || len(damaged) == 0 {
		return nil, err
	}
	aside := filepath.Join(s.path, "damaged")
	if err := os.MkdirAll(aside, 0o700); err != nil {
		return nil, fmt.Errorf("store: set damaged packs aside: %w", err)
	}
	for _, d := range damaged {
		// The pack goes first: go-git finds packs by their .pack and
		// fails on one without its index, while an index alone is
		// ignored, and removed by CleanPacks, if the agent dies here.
		for _, ext := range []string{".pack", ".idx"} {
			if err := os.Rename(filepath.Join(s.packDir(), d.Name+ext), filepath.Join(aside, d.Name+ext)); err != nil {
				return nil, fmt.Errorf("store: set the damaged pack %s aside: %w", d.Name, err)
			}
		}
	}
	if d, err := os.Open(s.packDir()); err == nil {
		d.Sync() // the renames last past a crash; if not, the next deploy sets them aside again
		d.Close()
	}
	return damaged, nil
}
