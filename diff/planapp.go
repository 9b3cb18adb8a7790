package diff

import (
	"fmt"
	"sort"
	"strings"

	"github.com/deptool/deptool/store"
)

// app plans one app whose tree changed; a zero id means absent.
func (pl *planner) app(host, name string, from, to store.ID) (*AppPlan, error) {
	ap := &AppPlan{App: name, Action: Update, From: from, To: to}
	switch {
	case from.IsZero():
		ap.Action = Add
	case to.IsZero():
		ap.Action = Remove
	}
	var err error
	if ap.Files, err = diffFiles(pl.src, from, to); err != nil {
		return nil, err
	}
	old, err := pl.appData(host, name, from)
	if err != nil {
		return nil, err
	}
	cur, err := pl.appData(host, name, to)
	if err != nil {
		return nil, err
	}
	if ap.Files, err = pl.fileAttrs(ap.Files, old, cur, from, to); err != nil {
		return nil, err
	}
	ap.Symlinks = symlinkSteps(old.manifest.Symlinks, cur.manifest.Symlinks)
	ap.Sysusers = linkSteps(old.sysusers, cur.sysusers)
	ap.Quadlets = linkSteps(old.quadlets, cur.quadlets)
	ap.Units = unitSteps(old, cur, ap.Action != Remove)
	ap.Units = followSteps(ap.Units, old, cur, ap.Files, ap.Action != Remove)
	ap.Checks = cur.manifest.Checks
	ap.Validate = cur.manifest.Validate
	return ap, nil
}

var emptyApp = &appData{}

// appData loads an app for planning. A manifest that does not parse stops
// the plan: guessing which units to touch is not an option.
func (pl *planner) appData(host, name string, tree store.ID) (*appData, error) {
	if tree.IsZero() {
		return emptyApp, nil
	}
	d, err := pl.loader.app(tree)
	if err != nil {
		return nil, err
	}
	for _, p := range d.problems {
		if p.path == ManifestName {
			return nil, fmt.Errorf("%s/%s/%s: %s", host, name, p.path, p.msg)
		}
	}
	return d, nil
}

// diffFiles lists the files that differ between two app trees, by path.
// Subtrees with equal ids are skipped unread.
func diffFiles(src source, from, to store.ID) ([]FileChange, error) {
	var out []FileChange
	if err := diffTree(src, from, to, "", &out); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func diffTree(src source, from, to store.ID, prefix string, out *[]FileChange) error {
	if from == to {
		return nil
	}
	old, err := readTree(src, from)
	if err != nil {
		return err
	}
	cur, err := readTree(src, to)
	if err != nil {
		return err
	}
	oldByName := make(map[string]store.Entry, len(old))
	for _, e := range old {
		oldByName[e.Name] = e
	}
	for _, n := range cur {
		o, ok := oldByName[n.Name]
		delete(oldByName, n.Name)
		if err := diffEntry(src, o, ok, n, true, prefix+n.Name, out); err != nil {
			return err
		}
	}
	for _, o := range oldByName {
		if err := diffEntry(src, o, true, store.Entry{}, false, prefix+o.Name, out); err != nil {
			return err
		}
	}
	return nil
}

// diffEntry compares one name present in the old tree (hasOld), the new
// one (hasNew) or both. A directory replaced by a file (or the reverse) is
// a removal of one and an addition of the other.
func diffEntry(src source, o store.Entry, hasOld bool, n store.Entry, hasNew bool, p string, out *[]FileChange) error {
	if hasOld && hasNew && o == n {
		return nil
	}
	var fromDir, toDir store.ID
	if hasOld && o.IsDir() {
		fromDir = o.ID
	}
	if hasNew && n.IsDir() {
		toDir = n.ID
	}
	if !fromDir.IsZero() || !toDir.IsZero() {
		if err := diffTree(src, fromDir, toDir, p+"/", out); err != nil {
			return err
		}
	}
	oldFile, newFile := hasOld && !o.IsDir(), hasNew && !n.IsDir()
	switch {
	case oldFile && newFile:
		*out = append(*out, FileChange{Op: Update, Path: p, Old: o.ID, New: n.ID, OldMode: Mode(o.Mode), NewMode: Mode(n.Mode)})
	case oldFile:
		*out = append(*out, FileChange{Op: Remove, Path: p, Old: o.ID, OldMode: Mode(o.Mode)})
	case newFile:
		*out = append(*out, FileChange{Op: Add, Path: p, New: n.ID, NewMode: Mode(n.Mode)})
	}
	return nil
}

func symlinkSteps(old, cur map[string]string) []SymlinkStep {
	var steps []SymlinkStep
	for _, p := range sortedKeys(old) {
		if _, ok := cur[p]; !ok {
			steps = append(steps, SymlinkStep{Op: Unlink, Path: p})
		}
	}
	for _, p := range sortedKeys(cur) {
		if t, ok := old[p]; !ok || t != cur[p] {
			steps = append(steps, SymlinkStep{Op: Link, Path: p, Target: cur[p]})
		}
	}
	return steps
}

// linkSteps links files that appeared and unlinks those that went. A file
// that changed needs nothing: its link points through current/.
func linkSteps(old, cur []string) []LinkStep {
	var steps []LinkStep
	for _, name := range minus(old, cur) {
		steps = append(steps, LinkStep{Op: Unlink, Name: name})
	}
	for _, name := range minus(cur, old) {
		steps = append(steps, LinkStep{Op: Link, Name: name})
	}
	return steps
}

// unitSteps decides what happens to the app's units. Units no longer
// enabled, and units whose file is gone, are stopped before their link
// goes; every enabled unit of a changed app restarts, so it runs the new
// configuration.
func unitSteps(old, cur *appData, keep bool) []UnitStep {
	oldOn, curOn := enabled(old), enabled(cur)
	steps := map[UnitOp][]string{
		Disable:    minus(oldOn, curOn),
		UnlinkUnit: minus(old.units, cur.units),
		LinkUnit:   minus(cur.units, old.units),
		Enable:     minus(curOn, oldOn),
	}
	stop := map[string]bool{}
	for _, u := range steps[Disable] {
		stop[u] = true
	}
	for _, u := range steps[UnlinkUnit] {
		if !strings.Contains(u, "/") { // drop-ins are not units
			stop[u] = true
		}
	}
	steps[Stop] = startable(sortedSet(stop))
	if keep {
		steps[Restart] = startable(curOn)
	}
	var out []UnitStep
	for _, op := range unitOpOrder {
		for _, u := range steps[op] {
			out = append(out, UnitStep{Op: op, Unit: u})
		}
	}
	return out
}

func enabled(d *appData) []string {
	seen := map[string]bool{}
	for _, u := range d.manifest.Systemd.UnitsEnabled {
		seen[u] = true
	}
	return sortedSet(seen)
}

// startable drops templates: foo@.service cannot be started or stopped,
// only its instances can.
func startable(units []string) []string {
	var out []string
	for _, u := range units {
		if !isTemplate(u) {
			out = append(out, u)
		}
	}
	return out
}

// minus returns the sorted elements of a that are not in b.
func minus(a, b []string) []string {
	inB := make(map[string]bool, len(b))
	for _, s := range b {
		inB[s] = true
	}
	var out []string
	for _, s := range a {
		if !inB[s] {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
