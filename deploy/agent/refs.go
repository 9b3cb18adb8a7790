package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/deptool/deptool/store"
	"github.com/go-git/go-git/v5/plumbing"
)

// The host's two refs, as branches so plain git on the host finds them
// (`git --git-dir /var/lib/deptool/store log current`).
const (
	currentRef = plumbing.ReferenceName("refs/heads/current")
	targetRef  = plumbing.ReferenceName("refs/heads/target")
)

// refs are the host's current and target commits, zero when unset.
type refs struct{ current, target store.ID }

// hostStore is the host's store, opened or created on first need.
type hostStore struct {
	l  layout
	st *store.Store
}

// open opens the store, creating it when create is set. Without create, a
// host with no store yet yields nil and no error.
func (h *hostStore) open(create bool) (*store.Store, error) {
	if h.st != nil {
		return h.st, nil
	}
	dir := h.l.storeDir()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) && !create {
		return nil, nil
	}
	st, err := h.init(dir)
	if err != nil {
		return nil, err
	}
	h.st = st
	return st, nil
}

func (h *hostStore) init(dir string) (*store.Store, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
	}
	st, err := store.Init(dir)
	if err != nil {
		return nil, err
	}
	// Configuration can hold secrets: only root reads the store.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("protect %s: %w", dir, err)
	}
	head := plumbing.NewSymbolicReference(plumbing.HEAD, currentRef)
	if err := st.Repository().Storer.SetReference(head); err != nil {
		return nil, fmt.Errorf("store %s: point HEAD at current: %w", dir, err)
	}
	return st, nil
}

// refs reads current and target.
func (h *hostStore) refs() (refs, error) {
	st, err := h.open(false)
	if err != nil || st == nil {
		return refs{}, err
	}
	cur, err := readRef(st, currentRef)
	if err != nil {
		return refs{}, err
	}
	tgt, err := readRef(st, targetRef)
	if err != nil {
		return refs{}, err
	}
	return refs{current: cur, target: tgt}, nil
}

func readRef(st *store.Store, name plumbing.ReferenceName) (store.ID, error) {
	r, err := st.Repository().Storer.Reference(name)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return store.ZeroID, nil
	}
	if err != nil {
		return store.ZeroID, fmt.Errorf("host store: read %s: %w", name.Short(), err)
	}
	return store.ID(r.Hash()), nil
}

// setRef moves a ref durably. go-git rewrites ref files in place, which a
// crash can leave empty; a loose ref written by rename cannot be torn, and
// Git prefers it over any packed copy.
func (h *hostStore) setRef(name plumbing.ReferenceName, id store.ID) error {
	path := filepath.Join(h.l.storeDir(), filepath.FromSlash(name.String()))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("host store: set %s: %w", name.Short(), err)
	}
	if err := writeFileAtomic(path, []byte(id.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("host store: set %s: %w", name.Short(), err)
	}
	return nil
}
