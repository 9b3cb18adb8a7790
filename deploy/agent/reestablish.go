package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	hostlayout "github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/store"
)

// putBack puts the host back where the host store's current commit says
// it is, before the attempt starts (reconcile, reestablish): what it fixes
// is not part of the attempt, so undoing the attempt does not break it
// again.
type putBack struct {
	*env
	// fromApps are the apps of the host store's current commit, or nil
	// (see checkRequest).
	fromApps map[string]store.ID
	files    *fileStep // writes a missing checkout again
}

// reestablish puts back what the apps of the host's current commit manage
// outside their checkouts, where someone changed it by hand: the links of
// their unit files, drop-ins, sysusers and quadlet files and their
// manifest symlinks, the enablement of the units they enable, and those
// units running. `systemctl disable --now x` removes a linked unit's link:
// the next restart of x, forward or in an undo, then failed with "Unit
// x.service not found", and every deploy of the app ended "rollback
// failed". Like reconcile, it runs before the attempt starts and is not
// part of it: undoing the attempt must not break the host again.
//
// A link path taken by something other than a link into deptool's apps is
// left alone: that is not drift deptool may overwrite (check reports it).
// A unit that does not start is a warning, not a failure: the apply's own
// restarts are judged as always.
func (r *putBack) reestablish() error {
	relinked, enabled, reload, err := r.relinkAll()
	if err != nil {
		return err
	}
	if len(enabled) == 0 && !reload {
		return nil
	}
	sd, err := r.sd.get()
	if err != nil {
		if !reload {
			// Nothing was changed that systemd must see; whether the
			// units run is then for check to report.
			return nil
		}
		return err
	}
	if reload {
		r.say(wire.Progress{Step: "daemon-reload", Detail: "unit links put back: " + strings.Join(relinked, ", ")})
		if err := r.sd.bounded("daemon-reload", sd.Reload); err != nil {
			return err
		}
	}
	return r.restartEnabled(sd, enabled)
}

// relinkAll links again what the apps of the current commit manage and
// someone changed. It returns the units whose files it linked again, the
// units the apps enable, and whether systemd must reload.
func (r *putBack) relinkAll() (relinked []string, enabled []appUnit, reload bool, err error) {
	for _, app := range slices.Sorted(maps.Keys(r.fromApps)) {
		tree := r.fromApps[app]
		links, m, err := r.managedLinks(app, tree)
		if err != nil {
			return nil, nil, false, fmt.Errorf("app %s: %w", app, err)
		}
		for _, p := range slices.Sorted(maps.Keys(links)) {
			fixed, err := r.relink(app, p, links[p])
			if err != nil {
				return nil, nil, false, fmt.Errorf("app %s: %w", app, err)
			}
			if !fixed {
				continue
			}
			if name, ok := strings.CutPrefix(p, unitDir+"/"); ok {
				relinked = append(relinked, unitOf(name))
				reload = true
			}
			if strings.HasPrefix(p, quadletDir+"/") {
				reload = true
			}
		}
		for _, u := range m.Systemd.UnitsEnabled {
			enabled = append(enabled, appUnit{app, u})
		}
	}
	return relinked, enabled, reload, nil
}

// restartEnabled enables again the units the apps enable that are not,
// and starts those that do not run.
func (r *putBack) restartEnabled(sd units, enabled []appUnit) error {
	var enable, start []string
	var enableApps, startApps []string
	for _, au := range enabled {
		var st statusOf
		err := r.sd.bounded("the state of "+au.unit, func(ctx context.Context) error {
			s, err := sd.Status(ctx, au.unit)
			st = statusOf{s.LoadState, s.FileState, s.Running()}
			return err
		})
		if err != nil {
			return err
		}
		if st.load == "not-found" {
			continue // its file is not there to enable: the apply or check says so
		}
		if st.file != "enabled" && !isTemplateInstance(au.unit) {
			enable, enableApps = append(enable, au.unit), append(enableApps, au.app)
		}
		if !isTemplate(au.unit) && !st.running {
			start, startApps = append(start, au.unit), append(startApps, au.app)
		}
	}
	if len(enable) > 0 {
		for i, u := range enable {
			r.say(wire.Progress{Step: "repair", App: enableApps[i], Detail: u + " was not enabled: enable"})
		}
		if err := r.sd.bounded("enable", func(ctx context.Context) error { return sd.Enable(ctx, enable) }); err != nil {
			return fmt.Errorf("enable %s: %w", strings.Join(enable, ", "), err)
		}
		if err := r.sd.reloadIfOutdated(true); err != nil {
			return err
		}
	}
	for i, u := range start {
		r.say(wire.Progress{Step: "repair", App: startApps[i], Detail: u + " was not running: start"})
		if err := r.sd.bounded("start "+u, func(ctx context.Context) error { return sd.Restart(ctx, u) }); err != nil {
			r.warn(fmt.Errorf("app %s: %s does not start again: %w", startApps[i], u, err))
		}
	}
	return nil
}

type statusOf struct {
	load, file string
	running    bool
}

// managedLinks are the links app manages on the host, by host path, with
// the target each must have, and the app's manifest.
func (r *putBack) managedLinks(app string, tree store.ID) (map[string]string, diff.Manifest, error) {
	var m diff.Manifest
	links := map[string]string{}
	entries, err := r.st.ReadTree(tree)
	if err != nil {
		return nil, m, err
	}
	for _, e := range entries {
		switch {
		case e.Name == diff.ManifestName && !e.IsDir():
			data, err := r.st.ReadBlob(e.ID)
			if err != nil {
				return nil, m, err
			}
			if m, err = diff.ParseManifest(app+"/"+diff.ManifestName, data); err != nil {
				return nil, m, err
			}
		case e.IsDir():
			for _, sp := range hostlayout.Specials {
				if sp.Dir != e.Name {
					continue
				}
				files, err := r.specialFiles(e.ID, "")
				if err != nil {
					return nil, m, err
				}
				for _, f := range files {
					links[path.Join(sp.Host, f)] = r.l.linkTarget(app, path.Join(sp.Dir, f))
				}
			}
		}
	}
	for p, target := range m.Symlinks {
		links[p] = r.l.linkTarget(app, target)
	}
	return links, m, nil
}

// specialFiles lists the files of a special directory's tree and of its
// drop-in directories (x.d/y), as deptool links them.
func (r *putBack) specialFiles(tree store.ID, prefix string) ([]string, error) {
	entries, err := r.st.ReadTree(tree)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			out = append(out, prefix+strings.TrimSuffix(e.Name, diff.SecretSuffix))
			continue
		}
		if prefix == "" && strings.HasSuffix(e.Name, ".d") {
			sub, err := r.specialFiles(e.ID, e.Name+"/")
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

// relink makes host path p a link to target when it is missing or a link
// into deptool's apps pointing elsewhere, and says whether it did.
func (r *putBack) relink(app, p, target string) (bool, error) {
	hp := r.l.host(p)
	fi, err := os.Lstat(hp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, bare(err)
	case fi.Mode()&fs.ModeSymlink == 0:
		return false, nil
	default:
		cur := readlink(hp)
		if cur == target || !r.l.ours(cur) {
			return false, nil
		}
	}
	if err := r.l.parentsSafe(p); err != nil {
		return false, err
	}
	d, err := openDir(r.l.host(path.Dir(p)), func(string) error { return nil })
	if err != nil {
		return false, fmt.Errorf("create %s: %w", path.Dir(p), hostErr(r.l, err))
	}
	d.Close()
	r.warn(fmt.Errorf("app %s: %s was changed on the host (removed, or pointed elsewhere): linked again, as the host's current commit has it", app, p))
	if err := setSymlink(hp, target); err != nil {
		return false, bare(err)
	}
	return true, nil
}
