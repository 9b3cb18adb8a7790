package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"filippo.io/age"
	"github.com/deptool/deptool/deploy/secret"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	hostlayout "github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/store"
)

// drift answers `deptool check`: how the host differs from its current
// host commit (files in the checkouts, the links deptool made, the units
// its apps enable), and every app's health checks run now. It changes
// nothing, so it needs no lock.
func (s *session) drift(ctx context.Context) (*wire.DriftReply, error) {
	r, err := s.store.refs()
	if err != nil {
		return nil, err
	}
	reply := &wire.DriftReply{Current: r.current}
	if r.current == store.ZeroID {
		return reply, nil // nothing applied here yet: nothing to drift from
	}
	st, err := s.store.open(false)
	if err != nil {
		return nil, err
	}
	// Nothing read from a damaged pack can be trusted, nor may fail with
	// "zlib: invalid checksum": the damage is the one thing to report,
	// as drift, so `deptool repair` redeploys the host, which rebuilds it.
	if damaged, err := st.DamagedPacks(); err != nil {
		return nil, err
	} else if len(damaged) > 0 {
		reply.Drift = []wire.Drift{{Kind: wire.DriftStore, Path: s.l.storeDir(), What: damageText(s.l.storeDir(), damaged)}}
		return reply, nil
	}
	info, err := st.CommitInfo(r.current)
	if err != nil {
		return nil, fmt.Errorf("current %s: %w", short(r.current), err) // the operator names the host
	}
	apps, err := appTrees(st, info.Tree)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(apps))
	for app := range apps {
		names = append(names, app)
	}
	sort.Strings(names)
	dc := &driftCheck{l: s.l, st: st, ctx: ctx, open: s.opts.Units, redact: s.redact}
	defer dc.close()
	var checks []appCheck
	for _, app := range names {
		m, err := dc.app(app, apps[app])
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", app, err)
		}
		for _, c := range m.Checks {
			checks = append(checks, appCheck{app, wire.Check(c)}) // the stored manifest's check means what a planned one does
		}
	}
	if att, err := loadAttempt(s.l); err == nil && att.needsUndo() {
		dc.add("", wire.DriftAttempt, att.To.String(), "%s", attemptDrift(att))
	}
	reply.Drift = dc.found
	reply.Checks = newProber().runAll(ctx, checks)
	return reply, nil
}

// driftCheck collects one host's drift.
type driftCheck struct {
	meta       *appMeta // the app's modes and owners, nil if unknown
	identities []age.Identity
	redact     *secret.Redactor // the session's: told each plaintext met
	l          layout
	st         *store.Store
	ctx        context.Context
	open       openUnits
	sd         units
	closeSD    func()
	found      []wire.Drift
}

func (dc *driftCheck) close() {
	if dc.closeSD != nil {
		dc.closeSD()
	}
}

func (dc *driftCheck) add(app string, kind wire.DriftKind, p, format string, args ...any) {
	dc.found = append(dc.found, wire.Drift{App: app, Kind: kind, Path: p, What: fmt.Sprintf(format, args...)})
}

// app compares one app with its tree and returns its manifest.
func (dc *driftCheck) app(app string, tree store.ID) (diff.Manifest, error) {
	appDir := dc.l.appDir(app)
	dir := filepath.Join(appDir, tree.String())
	if cur := readlink(filepath.Join(appDir, "current")); cur != tree.String() {
		dc.add(app, wire.DriftCheckout, "current", "current points at %q, the host commit has checkout %s", cur, short(tree))
	}
	var m diff.Manifest
	if _, err := os.Lstat(dir); err != nil {
		dc.add(app, wire.DriftCheckout, tree.String(), "the checkout is missing")
		return m, nil
	}
	var special []string // files of systemd/, sysusers/, quadlets/, linked into the host
	dc.meta = nil
	if acc, err := readAccounts(dc.l); err == nil {
		dc.meta, _, _ = computeMeta(dc.st, acc, app, tree) // without it, modes are not compared
	}
	if err := dc.files(app, dir, tree, "", &special); err != nil {
		return m, err
	}
	if e, err := lookupFile(dc.st, tree, diff.ManifestName); err == nil {
		data, err := dc.st.ReadBlob(e.ID)
		if err != nil {
			return m, err
		}
		if m, err = diff.ParseManifest(app+"/"+diff.ManifestName, data); err != nil {
			return m, err
		}
	}
	for _, p := range sortedKeys(m.Symlinks) {
		dc.link(app, p, dc.l.linkTarget(app, m.Symlinks[p]))
	}
	for _, rel := range special {
		sub, name, _ := strings.Cut(rel, "/")
		for _, sp := range hostlayout.Specials {
			if sp.Dir == sub {
				dc.link(app, path.Join(sp.Host, name), dc.l.linkTarget(app, rel))
			}
		}
	}
	return m, dc.units(app, m.Systemd.UnitsEnabled)
}

// files compares the checkout directory dir with tree, rel being dir's
// path in the app: content, files missing, files added.
func (dc *driftCheck) files(app, dir string, tree store.ID, rel string, special *[]string) error {
	entries, err := dc.st.ReadTree(tree)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, e := range entries {
		// A secret is on the host under the name it decrypts to.
		name, secret := e.Name, !e.IsDir() && diff.IsSecret(e.Name)
		if secret {
			name = strings.TrimSuffix(name, diff.SecretSuffix)
		}
		want[name] = true
		p, r := filepath.Join(dir, name), rel+name
		treeRel := rel + e.Name
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			dc.add(app, wire.DriftFile, r, "missing on the host")
			continue
		case err != nil:
			return err
		case e.IsDir() != fi.IsDir() || (!e.IsDir() && !fi.Mode().IsRegular()):
			dc.add(app, wire.DriftFile, r, "replaced on the host by a %s", fileKind(fi))
			continue
		case e.IsDir():
			if err := dc.files(app, p, e.ID, r+"/", special); err != nil {
				return err
			}
			continue
		}
		if top, _, ok := strings.Cut(r, "/"); ok && isSpecial(top) {
			*special = append(*special, r)
		}
		dc.attrs(app, r, treeRel, fi)
		blob, err := dc.st.ReadBlob(e.ID)
		if err != nil {
			return err
		}
		if secret {
			if blob, err = dc.secret(app+"/"+r, e.ID); err != nil {
				dc.add(app, wire.DriftFile, r, "cannot be compared: the secret does not decrypt with this host's key: %v", err)
				continue
			}
		}
		if fi.Size() != int64(len(blob)) {
			dc.add(app, wire.DriftFile, r, "changed on the host")
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, blob) {
			dc.add(app, wire.DriftFile, r, "changed on the host")
		}
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, d := range des {
		if !want[d.Name()] {
			dc.add(app, wire.DriftFile, rel+d.Name(), "added on the host, not in the host commit")
		}
	}
	return nil
}

// isSpecial: an app directory whose files are linked into the system.
func isSpecial(dir string) bool {
	for _, sp := range hostlayout.Specials {
		if sp.Dir == dir {
			return true
		}
	}
	return false
}

func fileKind(fi fs.FileInfo) string {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "symlink"
	case fi.IsDir():
		return "directory"
	case fi.Mode().IsRegular():
		return "file"
	}
	return "special file"
}

// link checks that the link deptool made at host path p still points at
// target.
func (dc *driftCheck) link(app, p, target string) {
	fi, err := os.Lstat(dc.l.host(p))
	switch {
	case err != nil:
		dc.add(app, wire.DriftLink, p, "removed on the host")
	case fi.Mode()&fs.ModeSymlink == 0:
		dc.add(app, wire.DriftLink, p, "replaced on the host by a %s", fileKind(fi))
	default:
		if got := readlink(dc.l.host(p)); got != target {
			dc.add(app, wire.DriftLink, p, "points at %s on the host, deptool made it point at %s", got, target)
		}
	}
}

// units checks that the app's enabled units are enabled and running.
func (dc *driftCheck) units(app string, enabled []string) error {
	if len(enabled) == 0 {
		return nil
	}
	if dc.sd == nil {
		u, closeFn, err := dc.open(dc.ctx)
		if err != nil {
			return err
		}
		dc.sd, dc.closeSD = u, closeFn
	}
	for _, u := range enabled {
		st, err := dc.sd.Status(dc.ctx, u)
		if err != nil {
			dc.add(app, wire.DriftUnit, u, "%v", err)
			continue
		}
		if st.LoadState == "not-found" {
			dc.add(app, wire.DriftUnit, u, "not found by systemd (is its unit file link gone?), so neither enabled nor running")
			continue
		}
		if st.FileState != "enabled" && !isTemplateInstance(u) {
			dc.add(app, wire.DriftUnit, u, "not enabled on the host (%s), the app enables it", orUnknown(st.FileState))
		}
		if !isTemplate(u) && !st.Running() {
			dc.add(app, wire.DriftUnit, u, "not active: %s (%s)", st.ActiveState, st.SubState)
		}
		// A unit crash-looping after the settle window is active
		// between two crashes; the count is what tells.
		if st.NRestarts > 0 {
			dc.add(app, wire.DriftUnit, u, "restarted %d %s by systemd since it was last started: it crashes (journalctl -u %s)", st.NRestarts, pluralTimes(st.NRestarts), u)
		}
	}
	return nil
}

func pluralTimes(n uint32) string {
	if n == 1 {
		return "time"
	}
	return "times"
}

// isTemplateInstance: systemd reports an instance's file state as that of
// its template's install links, which may say "indirect" when enabled.
func isTemplateInstance(u string) bool {
	return strings.Contains(u, "@") && !isTemplate(u)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// attrs compares a checked-out file's mode and owners with what the
// manifest gives it.
func (dc *driftCheck) attrs(app, r, treeRel string, fi fs.FileInfo) {
	if dc.meta == nil {
		return
	}
	fm, ok := dc.meta.files[treeRel]
	if !ok {
		return
	}
	uid, gid := owner(fi)
	if fi.Mode().Perm() != fm.perm || (fm.uid >= 0 && uid != fm.uid) || (fm.gid >= 0 && gid != fm.gid) {
		dc.add(app, wire.DriftFile, r, "is mode %04o uid %d gid %d on the host; the manifest gives it mode %04o %s:%s",
			fi.Mode().Perm(), uid, gid, fm.perm, fm.owner, fm.group)
	}
}

// secret decrypts a secret's blob with the host's key, to compare it with
// the checkout; the plaintext stays in memory, and the redactor knows it.
func (dc *driftCheck) secret(name string, blob store.ID) ([]byte, error) {
	if dc.identities == nil {
		ids, err := secret.HostIdentities(dc.l.root)
		if err != nil {
			return nil, err
		}
		dc.identities = ids
	}
	data, err := dc.st.ReadBlob(blob)
	if err != nil {
		return nil, err
	}
	p, err := secret.Decrypt(data, dc.identities...)
	if err == nil {
		dc.redact.Add(name, p)
	}
	return p, err
}

// attemptDrift says what an attempt left to undo: one that ran to its end
// (failed, or failed and so did its rollback) is not "unfinished", and
// saying so sends the operator looking for a crash that never happened.
func attemptDrift(att *Attempt) string {
	switch att.Outcome {
	case "":
		return fmt.Sprintf("the last attempt (to %s) did not finish and is not undone yet; the next deploy undoes it first", short(att.To))
	case wire.RollbackFailed:
		return fmt.Sprintf("the last attempt (to %s) failed and so did its rollback: its changes are not undone yet; the next deploy undoes them first", short(att.To))
	}
	return fmt.Sprintf("the last attempt (to %s) ended %s and its changes are not undone yet; the next deploy undoes them first", short(att.To), att.Outcome)
}
