package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	hostlayout "github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/store"
	"golang.org/x/sys/unix"
)

// checkSymlinkStep refuses paths the agent must not touch, whatever the
// planner let through.
func checkSymlinkStep(step wire.SymlinkStep) error {
	p := step.Path
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return fmt.Errorf("symlink path %q: want an absolute, clean path", p)
	}
	if why := hostlayout.Clash(p); why != "" {
		return fmt.Errorf("symlink path %s: %s", p, why)
	}
	if step.Op == wire.Link {
		t := step.Target
		if t == "" || path.IsAbs(t) || path.Clean(t) != t || t == ".." || strings.HasPrefix(t, "../") {
			return fmt.Errorf("symlink %s: target %q: want a clean path inside the app", p, t)
		}
	}
	return nil
}

// linkStep makes and removes the apply's links on the host: manifest
// symlinks, and the links of unit, sysusers and quadlet files. Every link
// path is checked before anything changes (preflight), and again just
// before its link is made; each change is recorded before it is made.
type linkStep struct {
	*env
	apps    map[string]store.ID // the commit's apps by name
	secrets *secrets            // a link to a secret names its plaintext
}

// linkPlan is one manifest symlink to create and what is in its way.
type linkPlan struct {
	app    string
	step   wire.SymlinkStep
	want   string // the link's target
	sha256 string // of the config tree's file
	secret bool   // the file is a secret: its hash is not shown
}

// preflight inspects every symlink path before anything changes: a path
// taken by something deptool may not replace fails the whole host, and it
// is better to say so for all of them at once.
func (k *linkStep) preflight() error {
	k.say(wire.Progress{Step: "check"})
	var errs []error
	for _, ap := range k.plan.Apps {
		kept, err := k.keptLinks(ap)
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s: %w", ap.App, err))
		}
		for _, step := range slices.Concat(ap.Symlinks, specialLinks(ap), kept) {
			if step.Op != wire.Link {
				continue
			}
			lp, err := k.linkPlan(ap.App, step)
			if err == nil {
				_, err = k.inTheWay(lp)
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

func (k *linkStep) linkPlan(app string, step wire.SymlinkStep) (linkPlan, error) {
	lp := linkPlan{app: app, step: step, want: k.l.linkTarget(app, step.Target)}
	e, err := lookupFile(k.st, k.apps[app], step.Target)
	read := k.st.ReadBlob
	if err != nil {
		// A link to a secret names the file it decrypts to.
		var serr error
		if e, serr = lookupFile(k.st, k.apps[app], step.Target+diff.SecretSuffix); serr != nil {
			return lp, err
		}
		name := app + "/" + step.Target
		read = func(blob store.ID) ([]byte, error) { return k.secrets.data(name, blob) }
		lp.secret = true
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
func (k *linkStep) inTheWay(lp linkPlan) (occupant, error) {
	p := k.l.host(lp.step.Path)
	st, err := lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return vacant, k.l.parentsSafe(lp.step.Path)
	}
	if err != nil {
		return 0, hostErr(k.l, err)
	}
	switch {
	case isLink(st):
		t := readlink(p)
		if t == lp.want {
			return linked, nil
		}
		if k.l.ours(t) {
			return ourLink, nil
		}
		return 0, fmt.Errorf("a symlink to %s is already there, not one of deptool's: remove it or point it at %s", t, lp.want)
	case isRegular(st):
		sum, err := sha256File(p)
		if err != nil {
			return 0, err
		}
		if sum == lp.sha256 {
			return identical, nil
		}
		if lp.secret { // a hash of a short secret is as good as the secret
			return 0, fmt.Errorf("a different file is already there (the config tree's %s/%s is a secret, so neither hash is shown): move it away", lp.app, lp.step.Target)
		}
		return 0, fmt.Errorf("a different file is already there (sha256 %s on the host, %s in the config tree's %s/%s): move it away or make the config tree's file identical",
			sum, lp.sha256, lp.app, lp.step.Target)
	case isDir(st):
		return 0, errors.New("a directory is already there: move it away or choose another path")
	}
	return 0, fmt.Errorf("a %s is already there: move it away", fs.FileMode(st.Mode&unix.S_IFMT).Type())
}

// parentsSafe checks that the directories above a vacant link path that
// exist are reached without a symlink, so mkdirs will not refuse halfway.
func (l layout) parentsSafe(p string) error {
	for d := path.Dir(p); ; d = path.Dir(d) {
		f, err := openDir(l.host(d), nil)
		if err == nil {
			f.Close()
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) || d == "/" {
			return hostErr(l, err)
		}
	}
}

// hostErr names host paths in err as the operator knows them, without the
// agent's root (a temp dir in tests).
func hostErr(l layout, err error) error {
	var le *LinkInPathError
	if errors.As(err, &le) && l.root != "/" {
		return &LinkInPathError{Path: strings.TrimPrefix(le.Path, l.root)}
	}
	return bare(err)
}

// symlinks removes the links the plan drops, then makes the new ones,
// across all apps, so a path moving from one app to another works.
func (k *linkStep) symlinks() error {
	for _, ap := range k.plan.Apps {
		for _, step := range ap.Symlinks {
			if step.Op == wire.Unlink {
				if err := k.unlink(ap.App, step.Path); err != nil {
					return fmt.Errorf("app %s: unlink %s: %w", ap.App, step.Path, err)
				}
			}
		}
	}
	for _, ap := range k.plan.Apps {
		for _, step := range ap.Symlinks {
			if step.Op == wire.Link {
				if err := k.link(ap.App, step); err != nil {
					return fmt.Errorf("app %s: symlink %s: %w", ap.App, step.Path, err)
				}
			}
		}
		kept, err := k.keptLinks(ap)
		if err != nil {
			return fmt.Errorf("app %s: %w", ap.App, err)
		}
		for _, step := range kept {
			if readlink(k.l.host(step.Path)) == k.l.linkTarget(ap.App, step.Target) {
				continue
			}
			k.warn(fmt.Errorf("app %s: the link at %s was changed on the host since deptool made it: making it again", ap.App, step.Path))
			if err := k.link(ap.App, step); err != nil {
				return fmt.Errorf("app %s: symlink %s: %w", ap.App, step.Path, err)
			}
		}
	}
	return nil
}

// keptLinks are the manifest links of an added or updated app that the
// plan does not touch, because the manifest says the same as before. The
// planner cannot see the host, where someone may have removed or replaced
// one since; an apply of the app checks them and makes them again (or
// refuses, as for a new link, when something foreign is in the way).
func (k *linkStep) keptLinks(ap wire.AppPlan) ([]wire.SymlinkStep, error) {
	if ap.Action == wire.Remove {
		return nil, nil
	}
	e, err := lookupFile(k.st, k.apps[ap.App], diff.ManifestName)
	if err != nil {
		return nil, nil // no manifest, no links
	}
	data, err := k.st.ReadBlob(e.ID)
	if err != nil {
		return nil, err
	}
	m, err := diff.ParseManifest(ap.App+"/"+diff.ManifestName, data)
	if err != nil {
		return nil, err
	}
	planned := map[string]bool{}
	for _, st := range ap.Symlinks {
		planned[st.Path] = true
	}
	var out []wire.SymlinkStep
	for _, p := range slices.Sorted(maps.Keys(m.Symlinks)) {
		if planned[p] {
			continue
		}
		st := wire.SymlinkStep{Op: wire.Link, Path: p, Target: m.Symlinks[p]}
		if err := checkSymlinkStep(st); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// link makes one manifest symlink, adopting an identical file in its way.
func (k *linkStep) link(app string, step wire.SymlinkStep) error {
	lp, err := k.linkPlan(app, step)
	if err != nil {
		return err
	}
	occ, err := k.inTheWay(lp) // again: the host may have changed since preflight
	if err != nil {
		return err
	}
	p := k.l.host(step.Path)
	e := Effect{Kind: EffectLink, App: app, Path: step.Path, Target: lp.want}
	switch occ {
	case linked:
		return nil
	case vacant:
		if err := k.mkdirs(app, path.Dir(step.Path)); err != nil {
			return err
		}
	case ourLink:
		e.OldTarget = readlink(p)
	case identical:
		if e.Adopted, err = k.adopt(step.Path, lp.sha256); err != nil {
			return err
		}
	}
	k.say(wire.Progress{Step: "symlink", App: app, Detail: step.Path})
	if err := k.record(e); err != nil {
		return err
	}
	if err := setSymlink(p, lp.want); err != nil {
		return bare(err)
	}
	return nil
}

// mkdirs creates the missing directories above a link, recording each so
// that undoing the attempt removes them again.
func (k *linkStep) mkdirs(app, dir string) error {
	d, err := openDir(k.l.host(dir), func(p string) error {
		return k.record(Effect{Kind: EffectMkdir, App: app, Path: "/" + strings.TrimPrefix(strings.TrimPrefix(p, k.l.root), "/")})
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", dir, hostErr(k.l, err))
	}
	return d.Close()
}

// adopt keeps a copy of the file at host path p, with its mode and owner,
// before a link replaces it, so a rollback can put it back as it was.
func (k *linkStep) adopt(p, sum string) (*Adoption, error) {
	f, err := openNoFollow(k.l.host(p))
	if err != nil {
		return nil, hostErr(k.l, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, bare(err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("adopt: %w", bare(err))
	}
	ad := &Adoption{Path: p, Copy: path.Join(hostlayout.AdoptedDir, p), Mode: fi.Mode(), SHA256: sum}
	ad.UID, ad.GID = owner(fi)
	dst := k.l.adoptedCopy(p)
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
func (k *linkStep) unlink(app, p string) error {
	t := readlink(k.l.host(p))
	if t == "" || !k.l.ours(t) {
		return nil
	}
	k.say(wire.Progress{Step: "unlink", App: app, Detail: p})
	if err := k.record(Effect{Kind: EffectUnlink, App: app, Path: p, OldTarget: t}); err != nil {
		return err
	}
	return bare(removeSymlink(k.l.host(p)))
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func sha256File(p string) (string, error) {
	f, err := openNoFollow(p)
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
