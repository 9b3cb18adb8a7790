package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	hostlayout "github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/store"
)

// checkSymlinkStep refuses paths the agent must not touch, whatever the
// planner let through.
func checkSymlinkStep(step diff.SymlinkStep) error {
	p := step.Path
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return fmt.Errorf("symlink path %q: want an absolute, clean path", p)
	}
	if why := hostlayout.Clash(p); why != "" {
		return fmt.Errorf("symlink path %s: %s", p, why)
	}
	if step.Op == diff.Link {
		t := step.Target
		if t == "" || path.IsAbs(t) || path.Clean(t) != t || t == ".." || strings.HasPrefix(t, "../") {
			return fmt.Errorf("symlink %s: target %q: want a clean path inside the app", p, t)
		}
	}
	return nil
}

// linkPlan is one manifest symlink to create and what is in its way.
type linkPlan struct {
	app    string
	step   diff.SymlinkStep
	want   string // the link's target
	sha256 string // of the config tree's file
}

// preflight inspects every symlink path before anything changes: a path
// taken by something deptool may not replace fails the whole host, and it
// is better to say so for all of them at once.
func (a *applier) preflight() error {
	a.say(wire.Progress{Step: "check"})
	var errs []error
	for _, ap := range a.plan.Apps {
		for _, step := range slices.Concat(ap.Symlinks, specialLinks(ap)) {
			if step.Op != diff.Link {
				continue
			}
			lp, err := a.linkPlan(ap.App, step)
			if err == nil {
				_, err = a.inTheWay(lp)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("app %s: symlink %s: %w", ap.App, step.Path, err))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nothing was changed on the host:\n%w", errors.Join(errs...))
	}
	return nil
}

func (a *applier) linkPlan(app string, step diff.SymlinkStep) (linkPlan, error) {
	lp := linkPlan{app: app, step: step, want: a.l.linkTarget(app, step.Target)}
	e, err := lookupFile(a.st, a.apps[app], step.Target)
	read := a.st.ReadBlob
	if err != nil {
		// A link to a secret names the file it decrypts to.
		var serr error
		if e, serr = lookupFile(a.st, a.apps[app], step.Target+diff.SecretSuffix); serr != nil {
			return lp, err
		}
		read = a.secretData
	}
	data, err := read(e.ID)
	if err != nil {
		return lp, fmt.Errorf("read %s/%s: %w", app, step.Target, err)
	}
	lp.sha256 = sha256Hex(data)
	return lp, nil
}

// lookupFile finds the file at rel (slash-separated) in an app tree.
func lookupFile(st *store.Store, tree store.ID, rel string) (store.Entry, error) {
	parts := strings.Split(rel, "/")
	for i, name := range parts {
		entries, err := st.ReadTree(tree)
		if err != nil {
			return store.Entry{}, err
		}
		found := false
		for _, e := range entries {
			if e.Name != name {
				continue
			}
			last := i == len(parts)-1
			if last == e.IsDir() {
				break
			}
			if last {
				return e, nil
			}
			tree, found = e.ID, true
			break
		}
		if !found {
			break
		}
	}
	return store.Entry{}, fmt.Errorf("target %s is not a file in the app", rel)
}

// What a link's path holds now.
type occupant int

const (
	vacant    occupant = iota
	linked             // already the link we want
	ourLink            // a link into deptool's apps, to be replaced
	identical          // a regular file with the target's contents: adopt it
)

// inTheWay says what is at a link's path, or why deptool must not replace
// it.
func (a *applier) inTheWay(lp linkPlan) (occupant, error) {
	p := a.l.host(lp.step.Path)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return vacant, nil
	}
	if err != nil {
		return 0, bare(err)
	}
	switch mode := fi.Mode(); {
	case mode&fs.ModeSymlink != 0:
		t := readlink(p)
		if t == lp.want {
			return linked, nil
		}
		if a.l.ours(t) {
			return ourLink, nil
		}
		return 0, fmt.Errorf("a symlink to %s is already there, not one of deptool's: remove it or point it at %s", t, lp.want)
	case mode.IsRegular():
		sum, err := sha256File(p)
		if err != nil {
			return 0, err
		}
		if sum == lp.sha256 {
			return identical, nil
		}
		return 0, fmt.Errorf("a different file is already there (sha256 %s on the host, %s in the config tree's %s/%s): move it away or make the config tree's file identical",
			sum, lp.sha256, lp.app, lp.step.Target)
	case mode.IsDir():
		return 0, errors.New("a directory is already there: move it away or choose another path")
	}
	return 0, fmt.Errorf("a %s is already there: move it away", fi.Mode().Type())
}

// symlinks removes the links the plan drops, then makes the new ones,
// across all apps, so a path moving from one app to another works.
func (a *applier) symlinks() error {
	for _, ap := range a.plan.Apps {
		for _, step := range ap.Symlinks {
			if step.Op == diff.Unlink {
				if err := a.unlink(ap.App, step.Path); err != nil {
					return fmt.Errorf("app %s: unlink %s: %w", ap.App, step.Path, err)
				}
			}
		}
	}
	for _, ap := range a.plan.Apps {
		for _, step := range ap.Symlinks {
			if step.Op == diff.Link {
				if err := a.link(ap.App, step); err != nil {
					return fmt.Errorf("app %s: symlink %s: %w", ap.App, step.Path, err)
				}
			}
		}
	}
	return nil
}

// link makes one manifest symlink, adopting an identical file in its way.
func (a *applier) link(app string, step diff.SymlinkStep) error {
	lp, err := a.linkPlan(app, step)
	if err != nil {
		return err
	}
	occ, err := a.inTheWay(lp) // again: the host may have changed since preflight
	if err != nil {
		return err
	}
	p := a.l.host(step.Path)
	e := Effect{Kind: EffectLink, App: app, Path: step.Path, Target: lp.want}
	switch occ {
	case linked:
		return nil
	case vacant:
		if err := a.mkdirs(app, path.Dir(step.Path)); err != nil {
			return err
		}
	case ourLink:
		e.OldTarget = readlink(p)
	case identical:
		if e.Adopted, err = a.adopt(step.Path, lp.sha256); err != nil {
			return err
		}
	}
	a.say(wire.Progress{Step: "symlink", App: app, Detail: step.Path})
	if err := a.record(e); err != nil {
		return err
	}
	if err := setSymlink(p, lp.want); err != nil {
		return bare(err)
	}
	return nil
}

// mkdirs creates the missing directories above a link, recording each so
// that undoing the attempt removes them again.
func (a *applier) mkdirs(app, dir string) error {
	var missing []string
	for d := dir; d != "/"; d = path.Dir(d) {
		if _, err := os.Lstat(a.l.host(d)); err == nil {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := a.record(Effect{Kind: EffectMkdir, App: app, Path: missing[i]}); err != nil {
			return err
		}
		if err := os.Mkdir(a.l.host(missing[i]), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", missing[i], bare(err))
		}
	}
	return nil
}

// adopt keeps a copy of the file at host path p, with its mode and owner,
// before a link replaces it, so a rollback can put it back as it was.
func (a *applier) adopt(p, sum string) (*Adoption, error) {
	src := a.l.host(p)
	fi, err := os.Lstat(src)
	if err != nil {
		return nil, bare(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("adopt: %w", bare(err))
	}
	ad := &Adoption{Path: p, Copy: path.Join(hostlayout.AdoptedDir, p), Mode: fi.Mode(), SHA256: sum}
	ad.UID, ad.GID = owner(fi)
	dst := a.l.adoptedCopy(p)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return nil, fmt.Errorf("adopt: %w", bare(err))
	}
	if err := writeFileAtomic(dst, data, 0o600); err != nil {
		return nil, fmt.Errorf("adopt: keep a copy: %w", bare(err))
	}
	return ad, nil
}

// unlink removes a manifest symlink, but only one that points into
// deptool's apps: anything else at the path is the host's, not ours.
func (a *applier) unlink(app, p string) error {
	t := readlink(a.l.host(p))
	if t == "" || !a.l.ours(t) {
		return nil
	}
	a.say(wire.Progress{Step: "unlink", App: app, Detail: p})
	if err := a.record(Effect{Kind: EffectUnlink, App: app, Path: p, OldTarget: t}); err != nil {
		return err
	}
	return bare(removeSymlink(a.l.host(p)))
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", bare(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", bare(err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
