package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// checkouts checks out every app the plan adds or updates.
func (c *fileStep) checkouts() error {
	for _, ap := range c.plan.Apps {
		if ap.Action != wire.Remove {
			if err := c.checkout(ap.App, ap.To); err != nil {
				return fmt.Errorf("app %s: checkout: %w", ap.App, err)
			}
		}
	}
	return nil
}

// checkout makes apps/<app>/<tree> hold the app's files and points the
// app's current link at it, previous at what current was. The directory is
// named after the tree id, so the same content is the same directory and
// applying twice changes nothing the second time.
func (c *fileStep) checkout(app string, tree store.ID) error {
	name, _, err := c.prepareCheckout(app, tree)
	if err != nil {
		return err
	}
	return c.switchCurrent(app, name)
}

// prepareCheckout makes apps/<app>/<tree> hold the app's files without
// switching to it, and says whether it wrote the directory just now. Doing
// it twice is doing it once.
func (c *fileStep) prepareCheckout(app string, tree store.ID) (name string, wrote bool, err error) {
	appDir := c.l.appDir(app)
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
		c.say(wire.Progress{Step: "checkout", App: app, Detail: name[:12]})
		if err := c.record(Effect{Kind: EffectCheckout, App: app, Path: name}); err != nil {
			return "", false, err
		}
		if err := c.writeCheckout(app, appDir, dir, tree); err != nil {
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
	now := c.now()
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
func (c *fileStep) switchCurrent(app, name string) error {
	appDir := c.l.appDir(app)
	link := readlink(filepath.Join(appDir, "current"))
	cur := link
	if c.fromApps != nil {
		cur = ""
		if tree, ok := c.fromApps[app]; ok {
			cur = tree.String()
		}
	}
	if link == name && cur == name {
		return nil
	}
	prev := readlink(filepath.Join(appDir, "previous"))
	if err := c.record(Effect{Kind: EffectSwitch, App: app, OldCurrent: cur, OldPrevious: prev, NewCurrent: name}); err != nil {
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
// or is complete. The temp directory is 0700 until just before the rename,
// so no one sees a file before its mode and owners are set.
func (c *fileStep) writeCheckout(app, appDir, dir string, tree store.ID) error {
	return c.writeCheckoutWith(c.meta[app], appDir, dir, tree)
}

// restoreCheckout writes the checkout of the host's current commit again
// (reconcile), outside any plan: its modes, owners and secrets are worked
// out here. A name the host lacks now leaves its files root's: the
// restore puts back what ran, it does not refuse to.
func (c *fileStep) restoreCheckout(app, appDir, dir string, tree store.ID) error {
	acc, err := readAccounts(c.l)
	if err != nil {
		return err
	}
	m, _, err := computeMeta(c.st, acc, app, tree)
	if err != nil {
		return err
	}
	return c.writeCheckoutWith(m, appDir, dir, tree)
}

func (c *fileStep) writeCheckoutWith(m *appMeta, appDir, dir string, tree store.ID) error {
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
	w := checkoutWriter{st: c.st, meta: m, app: filepath.Base(appDir), secret: c.secrets.data}
	if w.meta == nil {
		w.meta = &appMeta{}
	}
	if err := w.tree(tmp, tree, ""); err != nil {
		return err
	}
	if err := w.dir(tmp, ""); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("rename into place: %w", bare(err))
	}
	done = true
	return syncDir(appDir)
}

// checkoutWriter writes one app tree as meta says.
type checkoutWriter struct {
	st     *store.Store
	meta   *appMeta
	app    string
	secret func(name string, blob store.ID) ([]byte, error)
}

// tree writes the entries of tree into dir; rel is dir's path in the
// app, for messages.
func (w checkoutWriter) tree(dir string, tree store.ID, rel string) error {
	entries, err := w.st.ReadTree(tree)
	if err != nil {
		return fmt.Errorf("read %s: %w", orDot(rel), err)
	}
	for _, e := range entries {
		if !validName(e.Name) {
			return fmt.Errorf("refusing entry %q in %s", e.Name, orDot(rel))
		}
		if err := w.entry(dir, e, rel+e.Name); err != nil {
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("sync %s: %w", orDot(rel), bare(err))
	}
	return nil
}

func (w checkoutWriter) entry(dir string, e store.Entry, rel string) error {
	path := filepath.Join(dir, e.Name)
	switch e.Mode {
	case store.ModeDir:
		if err := os.Mkdir(path, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", rel, bare(err))
		}
		if err := w.tree(path, e.ID, rel+"/"); err != nil {
			return err
		}
		return w.dir(path, rel)
	case store.ModeFile, store.ModeExecutable:
		return w.file(dir, e, rel)
	}
	return fmt.Errorf("%s: unsupported mode %s in the config tree", rel, e.Mode)
}

// dir sets a directory's mode and group once its entries are written.
func (w checkoutWriter) dir(path, rel string) error {
	dm, ok := w.meta.dirs[rel]
	if !ok {
		dm = dirMeta{perm: 0o755}
	}
	if err := os.Lchown(path, 0, max(dm.gid, 0)); err != nil {
		return fmt.Errorf("chown %s: %w", orDot(rel), bare(err))
	}
	if err := os.Chmod(path, dm.perm); err != nil {
		return fmt.Errorf("chmod %s: %w", orDot(rel), bare(err))
	}
	return nil
}

func (w checkoutWriter) file(dir string, e store.Entry, rel string) error {
	fm, ok := w.meta.files[rel]
	if !ok { // an apply with no meta: Git's modes, root's
		fm = fileMeta{path: rel, perm: 0o644}
		if e.Mode == store.ModeExecutable {
			fm.perm = 0o755
		}
	}
	var data []byte
	var err error
	if fm.secret {
		data, err = w.secret(w.app+"/"+fm.path, e.ID)
	} else {
		data, err = w.st.ReadBlob(e.ID)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", rel, err)
	}
	name := filepath.Join(dir, path.Base(fm.path))
	return writeFile(name, data, fm, rel)
}

// writeFile creates a file with its content, owners and mode, synced.
func writeFile(name string, data []byte, fm fileMeta, rel string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, bare(err))
	}
	_, err = f.Write(data)
	if err == nil && (fm.uid > 0 || fm.gid > 0) {
		err = f.Chown(max(fm.uid, 0), max(fm.gid, 0))
	}
	if err == nil {
		err = f.Chmod(fm.perm) // after chown, which may clear bits; and the umask must not strip any
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
