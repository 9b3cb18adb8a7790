package systemd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Rewrite is one install link FixInstallLinks pointed away from a
// versioned checkout.
type Rewrite struct {
	Link string // the install link, e.g. .../multi-user.target.wants/x.service
	Old  string // its target before, inside the apps directory
	New  string // its target now, the unit's link in the unit directory
}

// installDirSuffixes are the directories systemd writes install links into
// for WantedBy=, RequiredBy= and UpheldBy=.
var installDirSuffixes = []string{".wants", ".requires", ".upholds"}

// FixInstallLinks points every install link in unitDir that systemd aimed
// into appsDir at the unit's own link in unitDir instead, and returns what
// it changed.
//
// When /etc/systemd/system/x.service links to apps/x/current/..., systemd's
// enable logic follows the chain to its end and writes
// multi-user.target.wants/x.service -> apps/x/<id>/systemd/x.service. That
// link is right until the next deploy and dangles after garbage collection,
// so the unit silently stops starting at boot. Pointing it at
// /etc/systemd/system/x.service instead keeps it valid for as long as
// deptool manages the unit, and systemd treats the two as the same unit
// file, so a later enable still sees the unit as enabled and a disable
// still removes the link.
//
// We let systemd create the links and repair them afterwards rather than
// create them ourselves from [Install]: systemd's own reading of [Install]
// (Also=, Alias=, templates and DefaultInstance=, specifiers) is the
// reference, and reimplementing it would drift.
//
// It scans the whole directory, not only the links the latest enable made,
// so links left versioned by older deploys (or by Deptool) are repaired too.
// Links whose replacement target does not exist are left alone: a link we
// cannot repair is better kept than turned into one that is certainly dead.
// Top-level aliases (Alias=) are repaired the same way; a top-level link
// named like its own target is deptool's unit link and is not touched.
func FixInstallLinks(unitDir, appsDir string) ([]Rewrite, error) {
	appsDir = filepath.Clean(appsDir) + string(filepath.Separator)
	entries, err := os.ReadDir(unitDir)
	if err != nil {
		return nil, fmt.Errorf("reading unit directory: %w", err)
	}
	var done []Rewrite
	var errs []error
	fix := func(link string, topLevel bool) {
		r, err := fixLink(unitDir, appsDir, link, topLevel)
		if err != nil {
			errs = append(errs, err)
		} else if r != nil {
			done = append(done, *r)
		}
	}
	for _, e := range entries {
		p := filepath.Join(unitDir, e.Name())
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			fix(p, true)
		case e.IsDir() && hasInstallSuffix(e.Name()):
			links, err := os.ReadDir(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, l := range links {
				if l.Type()&fs.ModeSymlink != 0 {
					fix(filepath.Join(p, l.Name()), false)
				}
			}
		}
	}
	return done, errors.Join(errs...)
}

func hasInstallSuffix(name string) bool {
	for _, s := range installDirSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

func fixLink(unitDir, appsDir, link string, topLevel bool) (*Rewrite, error) {
	old, err := os.Readlink(link)
	if err != nil {
		return nil, err
	}
	target := old
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(link), target)
	}
	target = filepath.Clean(target)
	if !strings.HasPrefix(target, appsDir) {
		return nil, nil
	}
	// The target's name, not the link's: an instance link x@a.service
	// points at the template x@.service.
	repl := filepath.Join(unitDir, filepath.Base(target))
	if topLevel && repl == link {
		return nil, nil
	}
	if _, err := os.Lstat(repl); err != nil {
		return nil, nil
	}
	if err := replaceLink(link, repl); err != nil {
		return nil, fmt.Errorf("repairing install link %s: %w", link, err)
	}
	return &Rewrite{Link: link, Old: old, New: repl}, nil
}

// inside reports whether a symlink target lies under dir.
func inside(target, dir string) bool {
	return strings.HasPrefix(filepath.Clean(target), filepath.Clean(dir)+string(filepath.Separator))
}

// replaceLink makes link point at target. The new link is built beside the
// old one and renamed over it, so the link never goes missing, even if we
// die half way.
func replaceLink(link, target string) error {
	tmp := filepath.Join(filepath.Dir(link), ".deptool-"+filepath.Base(link)+".tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
