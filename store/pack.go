package store

import (
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// WritePack writes a Git packfile holding every object reachable from the
// commits in wants that is not reachable from the commits in haves, and
// returns how many objects it holds. haves are commits the receiver already
// has; those this store does not know are skipped, which only makes the
// pack larger, never wrong.
func (s *Store) WritePack(w io.Writer, wants, haves []ID) (int, error) {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	known := make([]ID, 0, len(haves))
	for _, h := range haves {
		if !h.IsZero() && s.objects.HasEncodedObject(h.Hash()) == nil {
			known = append(known, h)
		}
	}
	objs, err := revlist.Objects(s.objects, hashes(wants), hashes(known))
	if err != nil {
		return 0, fmt.Errorf("store: list objects to send: %w", err)
	}
	// Deltas would shrink the pack a little for configs that change a line
	// at a time, at a CPU cost paid on every deploy; packs here are small.
	if _, err := packfile.NewEncoder(w, s.objects, false).Encode(objs, 0); err != nil {
		return 0, fmt.Errorf("store: write pack: %w", err)
	}
	return len(objs), nil
}

// ReadPack stores the objects of the packfile read from r.
func (s *Store) ReadPack(r io.Reader) error {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	st, ok := s.objects.(storer.Storer)
	if !ok {
		return fmt.Errorf("store: read pack: storage cannot take packs")
	}
	if err := packfile.UpdateObjectStorage(st, r); err != nil {
		return fmt.Errorf("store: read pack: %w", err)
	}
	return nil
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
