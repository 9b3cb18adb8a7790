package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/deptool/deptool/deploy/wire"
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
// fromJournal says the store had lost them and current is the journal's
// last deployed commit (see refs).
type refs struct {
	current, target store.ID
	fromJournal     bool
}

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
	if !create {
		// Only reading, maybe without the lock: the agent that holds it
		// may be creating the store this instant, so a directory that is
		// not a store yet reads as no store, as a missing one does.
		st, err := store.Open(dir)
		if errors.Is(err, store.ErrNoStore) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		h.st = st
		return st, nil
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

// refs reads current and target. A host whose store was deleted (or lost
// its refs) still runs what its journal last recorded as deployed: that is
// current then, so the operator's plan matches and its deploy sends the
// whole commit, which rebuilds the store (see restoreRefs). Without a
// journal either, the host has never been deployed.
func (h *hostStore) refs() (refs, error) {
	st, err := h.open(false)
	if err != nil {
		return refs{}, err
	}
	var r refs
	if st != nil {
		if r.current, err = readRef(st, currentRef); err != nil {
			return refs{}, err
		}
		if r.target, err = readRef(st, targetRef); err != nil {
			return refs{}, err
		}
	}
	if r.current.IsZero() {
		if last := lastDeployed(h.l); !last.IsZero() {
			r = refs{current: last, target: last, fromJournal: true}
		}
	}
	return r, nil
}

// lastDeployed is the commit of the journal's last deployed apply; zero
// when there is none (or no journal that can be read).
func lastDeployed(l layout) store.ID {
	entries, _, err := readJournal(l)
	if err != nil {
		return store.ZeroID
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Outcome == wire.Deployed {
			return store.ID(entries[i].To)
		}
	}
	return store.ZeroID
}

// restoreRefs writes back the refs refs took from the journal, once the
// store holds the commit again.
func (h *hostStore) restoreRefs() error {
	r, err := h.refs()
	if err != nil || !r.fromJournal {
		return err
	}
	if err := h.setRef(currentRef, r.current); err != nil {
		return err
	}
	return h.setRef(targetRef, r.target)
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
