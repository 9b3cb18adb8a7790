package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"filippo.io/age"
	"github.com/deptool/deptool/deploy/secret"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// Modes, owners and secrets of a checkout.
//
// Before anything changes (prepareFiles), the agent works out for every
// app it checks out what each file gets: the mode and owners the app's
// manifest asks for (diff.Manifest.AttrOf), with the names resolved in
// the host's /etc/passwd and /etc/group, and the plaintext of each secret,
// decrypted in memory with the host's SSH key. A name the host lacks and
// no sysusers file of the commit creates, or a secret that does not
// decrypt, fails the host there, naming it.
//
// The checkout is written into a 0700 temp directory, files with their
// final mode and owners, and renamed into place: nobody sees a secret
// before it is locked down. A name only the commit's own sysusers files
// create cannot be resolved yet; its files are root's until fixOwners,
// which runs after systemd-sysusers (phase 3) and before any unit starts,
// and which sets every checked-out file again, so an apply cut short
// between the two is repaired by the next.

// fileStep writes the apply's checkouts. What each file gets is worked
// out before anything changes (prepareFiles); then each app's checkout is
// written and current switched to it (checkout), owners are set again once
// systemd-sysusers ran (fixOwners), and removed apps are moved aside
// (removeApp). Each change is recorded before it is made.
type fileStep struct {
	*env
	apps map[string]store.ID // the commit's apps by name
	// fromApps are the apps of the host store's current commit, or nil
	// (see checkRequest).
	fromApps map[string]store.ID
	secrets  *secrets
	// What checkouts get, worked out by prepareFiles: the host's
	// accounts, and per app its files' modes and owners.
	accounts *accounts
	meta     map[string]*appMeta
}

// secrets decrypts the apply's secrets, once per blob, with the host's
// SSH host key, and tells the redactor each plaintext it met. The
// plaintext is held in memory only until the checkout is written.
type secrets struct {
	l          layout
	st         *store.Store
	plain      map[store.ID][]byte
	identities []age.Identity
	// redact knows every plaintext the session met (the session's own).
	redact *secret.Redactor
}

// fileMeta is what one file of a checkout gets.
type fileMeta struct {
	path     string // in the checkout: a secret without .age
	perm     fs.FileMode
	owner    string // names, for messages
	group    string
	uid, gid int // -1: not resolved yet
	secret   bool
	blob     store.ID
}

// dirMeta is what one directory of a checkout gets.
type dirMeta struct {
	perm fs.FileMode
	gid  int
}

// appMeta is what every file and directory of one app tree gets, by path
// in the tree (directories by their path, "" the root).
type appMeta struct {
	files   map[string]fileMeta
	dirs    map[string]dirMeta
	pending bool // some name waits for systemd-sysusers
}

// accounts are the host's users and groups, read from its files under the
// agent's root. NSS sources other than files are not consulted.
type accounts struct {
	users  map[string]account
	groups map[string]int
}

type account struct{ uid, gid int }

func readAccounts(l layout) (*accounts, error) {
	a := &accounts{users: map[string]account{}, groups: map[string]int{}}
	err := eachLine(l.host("/etc/passwd"), func(f []string) {
		if len(f) >= 4 {
			uid, err1 := strconv.Atoi(f[2])
			gid, err2 := strconv.Atoi(f[3])
			if err1 == nil && err2 == nil {
				a.users[f[0]] = account{uid, gid}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	err = eachLine(l.host("/etc/group"), func(f []string) {
		if len(f) >= 3 {
			if gid, err := strconv.Atoi(f[2]); err == nil {
				a.groups[f[0]] = gid
			}
		}
	})
	return a, err
}

func eachLine(file string, fn func([]string)) error {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return bare(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			fn(strings.Split(line, ":"))
		}
	}
	return sc.Err()
}

// uid resolves a user name or numeric id; ok is false when the host has
// no such user.
func (a *accounts) uid(name string) (id int, ok bool) {
	if name == "root" {
		return 0, true
	}
	if n, err := strconv.Atoi(name); err == nil {
		return n, true
	}
	u, ok := a.users[name]
	return u.uid, ok
}

func (a *accounts) gid(name string) (int, bool) {
	if name == "root" {
		return 0, true
	}
	if n, err := strconv.Atoi(name); err == nil {
		return n, true
	}
	g, ok := a.groups[name]
	return g, ok
}

// primaryGID is a uid's login group, -1 when the uid is not in passwd.
func (a *accounts) primaryGID(uid int) int {
	for _, u := range a.users {
		if u.uid == uid {
			return u.gid
		}
	}
	return -1
}

// declared are the users and groups the commit's sysusers files create:
// names that may be missing before systemd-sysusers runs.
type declared struct{ users, groups map[string]bool }

func (c *fileStep) declaredAccounts() (declared, error) {
	d := declared{users: map[string]bool{}, groups: map[string]bool{}}
	for _, tree := range c.apps {
		files, err := diff.AppFiles(c.st, tree)
		if err != nil {
			return d, err
		}
		for _, f := range files {
			dir, name, _ := strings.Cut(f.TreePath, "/")
			if dir != "sysusers" || strings.Contains(name, "/") || !strings.HasSuffix(name, ".conf") {
				continue
			}
			data, err := c.st.ReadBlob(f.Blob)
			if err != nil {
				return d, err
			}
			parseSysusers(data, d)
		}
	}
	return d, nil
}

// parseSysusers notes the names a sysusers.d file creates: "u" a user and
// its group, "g" a group, "m" a user and a group it joins.
func parseSysusers(data []byte, d declared) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.TrimSuffix(f[0], "!") {
		case "u":
			d.users[f[1]], d.groups[f[1]] = true, true
		case "g":
			d.groups[f[1]] = true
		case "m":
			d.users[f[1]] = true
			if len(f) > 2 {
				d.groups[f[2]] = true
			}
		}
	}
}

// prepareFiles works out every checkout's files before anything changes:
// modes and owners resolved, secrets decrypted in memory. What fails here
// fails the host with nothing changed.
func (c *fileStep) prepareFiles() error {
	acc, err := readAccounts(c.l)
	if err != nil {
		return fmt.Errorf("nothing was changed on the host: read users and groups: %w", err)
	}
	c.accounts = acc
	c.meta = map[string]*appMeta{}
	var decl *declared
	var errs []error
	for _, ap := range c.plan.Apps {
		if ap.Action == wire.Remove {
			continue
		}
		m, missing, err := c.appMeta(ap.App, store.ID(ap.To))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(missing) > 0 && decl == nil {
			d, err := c.declaredAccounts()
			if err != nil {
				return err
			}
			decl = &d
		}
		for _, miss := range missing {
			if (miss.kind == "user" && decl.users[miss.name]) || (miss.kind == "group" && decl.groups[miss.name]) {
				m.pending = true
				continue
			}
			errs = append(errs, fmt.Errorf("app %s: %s: %s %q does not exist on the host, and no sysusers file of this deploy creates it; create it (a sysusers/ file in the app does) or fix \"files\" in manifest.json",
				ap.App, miss.file, miss.kind, miss.name))
		}
		c.meta[ap.App] = m
		if err := c.decryptSecrets(ap.App, store.ID(ap.To), m); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nothing was changed on the host:\n%w", errors.Join(errs...))
	}
	return nil
}

type missingName struct{ kind, name, file string }

// appMeta computes what an app tree's files get, resolving names now.
func (c *fileStep) appMeta(app string, tree store.ID) (*appMeta, []missingName, error) {
	return computeMeta(c.st, c.accounts, app, tree)
}

// computeMeta works out what an app tree's files get with the host's
// accounts acc; missing are the names acc lacks.
func computeMeta(st *store.Store, acc *accounts, app string, tree store.ID) (*appMeta, []missingName, error) {
	files, err := diff.AppFiles(st, tree)
	if err != nil {
		return nil, nil, fmt.Errorf("app %s: %w", app, err)
	}
	var man diff.Manifest
	for _, f := range files {
		if f.TreePath != diff.ManifestName {
			continue
		}
		data, err := st.ReadBlob(f.Blob)
		if err != nil {
			return nil, nil, fmt.Errorf("app %s: %w", app, err)
		}
		if man, err = diff.ParseManifest(diff.ManifestName, data); err != nil {
			return nil, nil, fmt.Errorf("app %s: %w", app, err)
		}
	}
	m := &appMeta{files: map[string]fileMeta{}}
	var missing []missingName
	seen := map[string]bool{}
	miss := func(kind, name, file string) {
		if !seen[kind+" "+name] {
			seen[kind+" "+name] = true
			missing = append(missing, missingName{kind, name, file})
		}
	}
	for _, f := range files {
		attr, err := man.AttrOf(f)
		if err != nil {
			return nil, nil, fmt.Errorf("app %s: %w", app, err)
		}
		fm := fileMeta{path: f.Path, perm: attr.Mode, owner: attr.Owner, group: attr.Group, secret: f.Secret, blob: f.Blob}
		var ok bool
		if fm.uid, ok = acc.uid(attr.Owner); !ok {
			fm.uid = -1
			miss("user", attr.Owner, f.Path)
		}
		if fm.gid, ok = acc.gid(attr.Group); !ok {
			fm.gid = -1
			miss("group", attr.Group, f.Path)
		}
		m.files[f.TreePath] = fm
	}
	m.dirs = dirModes(m.files, acc)
	return m, missing, nil
}

// decryptSecrets decrypts an app's secrets into memory, unless its
// checkout exists already (then they are on disk, locked down, and read
// from there only for the redactor: what runs on that checkout may print
// them).
func (c *fileStep) decryptSecrets(app string, tree store.ID, m *appMeta) error {
	dir := filepath.Join(c.l.appDir(app), tree.String())
	if _, err := os.Lstat(dir); err == nil {
		c.secrets.knowCheckedOut(app, dir, m)
		return nil
	}
	var errs []error
	for tp, f := range m.files {
		if !f.secret {
			continue
		}
		if _, err := c.secrets.data(app+"/"+f.path, f.blob); err != nil {
			errs = append(errs, fmt.Errorf("app %s: %s cannot be decrypted with this host's SSH host key: %v; re-encrypt it with 'deptool secret encrypt %s'", app, tp, err, c.plan.Host))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// knowCheckedOut tells the redactor the secrets of a checkout already on
// the host. One that cannot be read is skipped: the checkout is deptool's
// own, and a file gone from it is not this apply's to fail on.
func (s *secrets) knowCheckedOut(app, dir string, m *appMeta) {
	for _, f := range m.files {
		if !f.secret {
			continue
		}
		if p, err := readSecretFile(filepath.Join(dir, f.path)); err == nil {
			s.redact.Add(app+"/"+f.path, p)
		}
	}
}

// readSecretFile reads a checked-out secret without following a link,
// bounded as decryption is.
func readSecretFile(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 16<<20))
}

// data is the plaintext of a secret (name: app/path), decrypted
// once per blob, and known to the redactor from then on.
func (s *secrets) data(name string, blob store.ID) ([]byte, error) {
	if p, ok := s.plain[blob]; ok {
		return p, nil
	}
	if s.identities == nil {
		ids, err := secret.HostIdentities(s.l.root)
		if err != nil {
			return nil, err
		}
		s.identities = ids
	}
	data, err := s.st.ReadBlob(blob)
	if err != nil {
		return nil, err
	}
	p, err := secret.Decrypt(data, s.identities...)
	if err != nil {
		return nil, err
	}
	if s.plain == nil {
		s.plain = map[store.ID][]byte{}
	}
	s.plain[blob] = p
	s.redact.Add(name, p)
	return p, nil
}

// dirModes gives each directory of a checkout no more access than the
// files below it need: r-x for others when some file below is readable by
// others; else r-x for one group when that group is all that needs in;
// else --x for others when some non-root user or group needs in but no
// one group covers them (others can reach a file by name, not list the
// directory); else nothing for anyone but root.
func dirModes(files map[string]fileMeta, acc *accounts) map[string]dirMeta {
	needs := map[string]*dirNeed{}
	at := func(dir string) *dirNeed {
		n := needs[dir]
		if n == nil {
			n = &dirNeed{groups: map[int]bool{}, users: map[int]bool{}}
			needs[dir] = n
		}
		return n
	}
	for tp, f := range files {
		for dir := parentDir(tp); ; dir = parentDir(dir) {
			n := at(dir)
			switch {
			case f.perm&0o004 != 0:
				n.world = true
			case f.perm&0o040 != 0 && f.gid > 0:
				n.groups[f.gid] = true
			}
			if f.perm&0o400 != 0 && f.uid > 0 && f.perm&0o004 == 0 {
				n.users[f.uid] = true
			}
			if dir == "" {
				break
			}
		}
	}
	out := map[string]dirMeta{"": {perm: 0o700}}
	for dir, n := range needs {
		out[dir] = n.mode(acc)
	}
	return out
}

// dirNeed is who must get into a directory: anyone, some groups (by gid),
// some non-root users (by uid).
type dirNeed struct {
	world  bool
	groups map[int]bool
	users  map[int]bool
}

func (n *dirNeed) mode(acc *accounts) dirMeta {
	if n.world {
		return dirMeta{perm: 0o755}
	}
	// One group lets in everyone who needs in when every user who does
	// has it as login group.
	gids := map[int]bool{}
	for g := range n.groups {
		gids[g] = true
	}
	for u := range n.users {
		if g := acc.primaryGID(u); g > 0 && (len(n.groups) == 0 || n.groups[g]) {
			gids[g] = true
			continue
		}
		gids[-1] = true // a user no one group covers
	}
	switch {
	case len(gids) == 0:
		return dirMeta{perm: 0o700}
	case len(gids) == 1 && !gids[-1]:
		for g := range gids {
			return dirMeta{perm: 0o750, gid: g}
		}
	}
	return dirMeta{perm: 0o711}
}

func parentDir(p string) string {
	d := path.Dir(p)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

// fixOwners sets every checked-out file and directory of the plan's apps
// to what it must get. Names that waited for systemd-sysusers are
// resolved again now; a name still missing fails the apply, which rolls
// back. It runs for every app, not only those that waited: a checkout an
// earlier apply wrote but did not get to finish (cut short between
// checkout and here) is set right by the next. Idempotent.
func (c *fileStep) fixOwners() error {
	for _, ap := range c.plan.Apps {
		m := c.meta[ap.App]
		if ap.Action == wire.Remove || m == nil {
			continue
		}
		if m.pending {
			acc, err := readAccounts(c.l)
			if err != nil {
				return err
			}
			c.accounts = acc
			fresh, missing, err := c.appMeta(ap.App, store.ID(ap.To))
			if err != nil {
				return err
			}
			if len(missing) > 0 {
				miss := missing[0]
				return fmt.Errorf("app %s: %s: %s %q does not exist even after systemd-sysusers ran; check the app's sysusers/ files", ap.App, miss.file, miss.kind, miss.name)
			}
			m = fresh
			c.meta[ap.App] = m
		}
		dir := filepath.Join(c.l.appDir(ap.App), store.ID(ap.To).String())
		if err := m.apply(dir); err != nil {
			return fmt.Errorf("app %s: %w", ap.App, err)
		}
	}
	return nil
}

// apply sets a written checkout's files and directories, deepest first
// so a directory is closed only after what is inside it is set.
func (m *appMeta) apply(dir string) error {
	for _, f := range m.files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.Lchown(p, max(f.uid, 0), max(f.gid, 0)); err != nil {
			return fmt.Errorf("chown %s: %w", f.path, bare(err))
		}
		if err := os.Chmod(p, f.perm); err != nil {
			return fmt.Errorf("chmod %s: %w", f.path, bare(err))
		}
	}
	dirs := make([]string, 0, len(m.dirs))
	for d := range m.dirs {
		dirs = append(dirs, d)
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		dm := m.dirs[d]
		p := filepath.Join(dir, filepath.FromSlash(d))
		if err := os.Lchown(p, 0, dm.gid); err != nil {
			return fmt.Errorf("chown %s: %w", orDot(d), bare(err))
		}
		if err := os.Chmod(p, dm.perm); err != nil {
			return fmt.Errorf("chmod %s: %w", orDot(d), bare(err))
		}
	}
	return nil
}
