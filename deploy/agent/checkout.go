package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// checkout makes apps/<app>/<tree> hold the app's files and points the
// app's current link at it, previous at what current was. The directory is
// named after the tree id, so the same content is the same directory and
// applying twice changes nothing the second time.
func (a *applier) checkout(app string, tree store.ID) error {
	name, _, err := a.prepareCheckout(app, tree)
	if err != nil {
		return err
	}
	return a.switchCurrent(app, name)
}

// prepareCheckout makes apps/<app>/<tree> hold the app's files without
// switching to it, and says whether it wrote the directory just now. Doing
// it twice is doing it once.
func (a *applier) prepareCheckout(app string, tree store.ID) (name string, wrote bool, err error) {
	appDir := a.l.appDir(app)
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		return "", false, fmt.Errorf("create %s: %w", appDir, bare(err))
	}
	name = tree.String()
	dir := filepath.Join(appDir, name)
	fi, err := os.Lstat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return "", false, fmt.Errorf("%s is in the way and is not a checkout: remove it", dir)
	case errors.Is(err, fs.ErrNotExist):
		a.say(wire.Progress{Step: "checkout", App: app, Detail: name[:12]})
		if err := a.record(Effect{Kind: EffectCheckout, App: app, Path: name}); err != nil {
			return "", false, err
		}
		if err := writeCheckout(a.st, appDir, dir, tree); err != nil {
			return "", false, err
		}
		wrote = true
	case err != nil:
		return "", false, bare(err)
	}
	if readlink(filepath.Join(appDir, "current")) != name {
		if err := keepUnitTimes(dir, filepath.Join(appDir, "current")); err != nil {
			return "", false, fmt.Errorf("keep the times of unchanged unit files: %w", bare(err))
		}
	}
	// The age garbage collection goes by is when a checkout was last
	// deployed, not when it was first written.
	now := a.now()
	if err := os.Chtimes(dir, now, now); err != nil {
		return "", false, fmt.Errorf("touch %s: %w", name, bare(err))
	}
	return name, wrote, nil
}

// switchCurrent moves current to name and previous to the old current.
// Each link changes in one rename; re-applying the same tree moves neither,
// so previous keeps naming the version before.
//
// What current was comes from the host store (the app's tree in the
// current commit), not from the link: undo puts back what the record says.
func (a *applier) switchCurrent(app, name string) error {
	appDir := a.l.appDir(app)
	link := readlink(filepath.Join(appDir, "current"))
	cur := link
	if a.fromApps != nil {
		cur = ""
		if tree, ok := a.fromApps[app]; ok {
			cur = tree.String()
		}
	}
	if link == name && cur == name {
		return nil
	}
	prev := readlink(filepath.Join(appDir, "previous"))
	if err := a.record(Effect{Kind: EffectSwitch, App: app, OldCurrent: cur, OldPrevious: prev, NewCurrent: name}); err != nil {
		return err
	}
	if cur != "" {
		if err := setSymlink(filepath.Join(appDir, "previous"), cur); err != nil {
			return fmt.Errorf("switch previous: %w", bare(err))
		}
	}
	if err := setSymlink(filepath.Join(appDir, "current"), name); err != nil {
		return fmt.Errorf("switch current: %w", bare(err))
	}
	return nil
}

// writeCheckout writes tree into a temp directory beside dir, syncs every
// file and directory, and renames it into place: dir either does not exist
// or is complete.
func writeCheckout(st *store.Store, appDir, dir string, tree store.ID) error {
	tmp, err := os.MkdirTemp(appDir, ".tmp-"+filepath.Base(dir)[:12]+"-")
	if err != nil {
		return fmt.Errorf("create temp dir: %w", bare(err))
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := writeTree(st, tmp, tree, ""); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return bare(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("rename into place: %w", bare(err))
	}
	done = true
	return syncDir(appDir)
}

// writeTree writes the entries of tree into dir; rel is dir's path in the
// app, for messages.
func writeTree(st *store.Store, dir string, tree store.ID, rel string) error {
	entries, err := st.ReadTree(tree)
	if err != nil {
		return fmt.Errorf("read %s: %w", orDot(rel), err)
	}
	for _, e := range entries {
		if !validName(e.Name) {
			return fmt.Errorf("refusing entry %q in %s", e.Name, orDot(rel))
		}
		if err := writeEntry(st, dir, e, rel+e.Name); err != nil {
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("sync %s: %w", orDot(rel), bare(err))
	}
	return nil
}

func writeEntry(st *store.Store, dir string, e store.Entry, rel string) error {
	path := filepath.Join(dir, e.Name)
	switch e.Mode {
	case store.ModeDir:
		if err := os.Mkdir(path, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", rel, bare(err))
		}
		return writeTree(st, path, e.ID, rel+"/")
	case store.ModeFile:
		return writeFile(st, path, e.ID, rel, 0o644)
	case store.ModeExecutable:
		return writeFile(st, path, e.ID, rel, 0o755)
	}
	return fmt.Errorf("%s: unsupported mode %s in the config tree", rel, e.Mode)
}

func writeFile(st *store.Store, path string, blob store.ID, rel string, perm fs.FileMode) error {
	data, err := st.ReadBlob(blob)
	if err != nil {
		return fmt.Errorf("read %s: %w", rel, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, bare(err))
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm) // the umask must not strip the executable bit
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, bare(err))
	}
	return nil
}

func orDot(rel string) string {
	if rel == "" {
		return "."
	}
	return strings.TrimSuffix(rel, "/")
}

// validName accepts a single path element that stays where it is put.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}
