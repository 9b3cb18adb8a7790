package diff

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/store"
)

// Problem is one thing wrong with a config tree.
type Problem struct {
	// Path is where it is, as the operator typed the cluster directory:
	// <clusterDir>/<host>/<app>/<path>. It is kept as it is; Error quotes
	// it when it holds what must not reach a terminal.
	Path    string `json:"path"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in a config tree, so one run
// shows the operator all there is to fix.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return shown(e.Problems[0].Path) + ": " + e.Problems[0].Message
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems in the config tree:", len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", shown(p.Path), p.Message)
	}
	return b.String()
}

func newValidationError(probs []problem, clusterDir string) *ValidationError {
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].path < probs[j].path })
	out := make([]Problem, len(probs))
	for i, p := range probs {
		out[i] = Problem{Path: problemPath(clusterDir, p.path), Message: p.msg}
	}
	return &ValidationError{Problems: out}
}

// problemPath is where a problem is, as the operator typed the cluster
// directory.
func problemPath(clusterDir, rel string) string {
	if clusterDir == "" {
		return rel
	}
	return strings.TrimSuffix(clusterDir, "/") + "/" + rel
}

// shown is p quoted with escapes when it holds a control character or
// invalid UTF-8, which must not reach the terminal as they are.
func shown(p string) string {
	if !utf8.ValidString(p) || strings.IndexFunc(p, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0 {
		return strconv.Quote(p)
	}
	return p
}

// Validate checks a snapshot of the config tree in clusterDir before
// anything is committed or deployed. It returns nil or a *ValidationError
// listing every problem; other errors mean the store could not be read.
func Validate(s *store.Store, snap *store.Snapshot, clusterDir string) error {
	return validate(s, snap, clusterDir, nil)
}

// ValidateSecrets is Validate, and also checks that every secret is
// encrypted to its host's key, as keys returns them (from known_hosts).
func ValidateSecrets(s *store.Store, snap *store.Snapshot, clusterDir string, keys HostKeys) error {
	return validate(s, snap, clusterDir, keys)
}

func validate(src source, snap *store.Snapshot, clusterDir string, keys HostKeys) error {
	l := newLoader(src)
	c, probs, err := l.cluster(snap.Tree)
	if err != nil {
		return err
	}
	for _, ir := range snap.Irregular {
		msg := ir.Reason
		if msg == "" {
			msg = irregularMessage(ir.Path, ir.Kind)
		}
		probs = append(probs, problem{ir.Path, msg})
	}
	probs = append(probs, sameHosts(c)...)
	refs, err := src.HostRefs()
	if err != nil {
		return err
	}
	var kc *keyCache
	if keys != nil {
		kc = newKeyCache(keys)
		need, err := l.hostsWithSecrets(c, refs)
		if err != nil {
			return err
		}
		kc.fetch(need)
	}
	for _, h := range c.Hosts {
		hostProbs, err := l.checkHost(h)
		if err != nil {
			return err
		}
		probs = append(probs, hostProbs...)
		secretProbs, err := l.checkSecrets(c, h, refs, kc)
		if err != nil {
			return err
		}
		probs = append(probs, secretProbs...)
	}
	if len(probs) == 0 {
		return nil
	}
	return newValidationError(probs, clusterDir)
}

func irregularMessage(path, kind string) string {
	if strings.Count(path, "/") < 2 {
		return fmt.Sprintf("is a %s; hosts and apps must be real directories. Replace it with the directory itself", kind)
	}
	if kind == "symlink" {
		return "is a symlink; only regular files and directories are deployed. Copy the file it points to in its place, or create the link on the host with \"symlinks\" in the app's manifest.json"
	}
	return fmt.Sprintf("is a %s; only regular files and directories are deployed. Remove it from the config tree", kind)
}

// sameHosts finds host directories that differ only in case: DNS names
// do not, so both would deploy to one machine.
func sameHosts(c *Cluster) []problem {
	var probs []problem
	seen := map[string]string{}
	for _, h := range c.Hosts {
		key := strings.ToLower(h.Name)
		if first, ok := seen[key]; ok {
			probs = append(probs, problem{h.Name, fmt.Sprintf("names the same host as %s (host names ignore case); merge the two directories", first)})
			continue
		}
		seen[key] = h.Name
	}
	return probs
}

func (l *loader) checkHost(h *Host) ([]problem, error) {
	var probs []problem
	if msg := checkHostName(h.Name); msg != "" {
		probs = append(probs, problem{h.Name, msg})
	}
	for _, a := range h.Apps {
		dir := h.Name + "/" + a.Name
		if msg := checkAppName(a.Name); msg != "" {
			probs = append(probs, problem{dir, msg})
		}
		appProbs, err := l.checkApp(a)
		if err != nil {
			return nil, err
		}
		for _, p := range appProbs {
			probs = append(probs, problem{dir + "/" + p.path, p.msg})
		}
	}
	return append(probs, conflicts(h)...), nil
}

// checkApp applies the rules that depend only on the app's tree, once per
// distinct tree.
func (l *loader) checkApp(a *App) ([]problem, error) {
	if probs, ok := l.rules[a.Tree]; ok {
		return probs, nil
	}
	d, err := l.app(a.Tree)
	if err != nil {
		return nil, err
	}
	probs, err := l.checkSymlinks(d)
	if err != nil {
		return nil, err
	}
	probs = append(probs, checkUnitsEnabled(d)...)
	probs = append(probs, checkChecks(d)...)
	if len(d.manifest.Files) > 0 {
		files, err := l.appFiles(a.Tree)
		if err != nil {
			return nil, err
		}
		probs = append(probs, checkFiles(d.manifest, files)...)
	}
	probs = append(probs, checkFollow(d)...)
	install, err := l.checkInstall(d)
	if err != nil {
		return nil, err
	}
	probs = append(probs, install...)
	reloadable, err := l.checkReloadable(d)
	if err != nil {
		return nil, err
	}
	probs = append(probs, reloadable...)
	l.rules[a.Tree] = probs
	return probs, nil
}

func (l *loader) checkSymlinks(d *appData) ([]problem, error) {
	var probs []problem
	for _, link := range sortedKeys(d.manifest.Symlinks) {
		target := d.manifest.Symlinks[link]
		msg := checkLinkPath(link)
		if msg == "" {
			var err error
			if msg, err = l.checkLinkTarget(d, target); err != nil {
				return nil, err
			}
		}
		if msg != "" {
			probs = append(probs, problem{ManifestName, fmt.Sprintf("symlink %q: %s", link, msg)})
		}
	}
	return probs, nil
}

func checkLinkPath(p string) string {
	switch {
	case p == "":
		return "the link path is empty; use an absolute path such as /etc/app.conf"
	case hasControl(p):
		return "the link path contains a control character"
	case !path.IsAbs(p):
		return "the link path must be absolute, such as /etc/app.conf"
	case path.Clean(p) != p:
		return fmt.Sprintf("the link path is not clean; write it as %q", path.Clean(p))
	case p == "/":
		return "cannot replace the root directory"
	}
	// A symlink must not land in, on or above a directory deptool
	// manages on the host.
	return layout.Clash(p)
}

func (l *loader) checkLinkTarget(d *appData, target string) (string, error) {
	switch {
	case target == "":
		return "the target is empty; name a file in the app, such as \"app.conf\"", nil
	case hasControl(target):
		return "the target contains a control character", nil
	case path.IsAbs(target):
		return fmt.Sprintf("the target %q must be relative to the app directory, such as \"app.conf\"", target), nil
	case path.Clean(target) != target:
		return fmt.Sprintf("the target %q is not clean; write it as %q", target, path.Clean(target)), nil
	case target == ".." || strings.HasPrefix(target, "../"):
		return fmt.Sprintf("the target %q leaves the app directory; it must name a file inside the app", target), nil
	}
	e, ok, err := l.lookup(d.root, target)
	if err == nil && !ok {
		// A secret's link names the file it decrypts to.
		e, ok, err = l.lookup(d.root, target+SecretSuffix)
	}
	switch {
	case err != nil:
		return "", err
	case !ok:
		return fmt.Sprintf("the target %q is not a file in this app; add it or fix the name", target), nil
	case !isFile(e):
		return fmt.Sprintf("the target %q is not a regular file; a symlink must point to a file", target), nil
	}
	return "", nil
}

func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

func checkUnitsEnabled(d *appData) []problem {
	var probs []problem
	have := map[string]bool{}
	for _, u := range d.units {
		have[u] = true
	}
	seen := map[string]bool{}
	for _, u := range d.manifest.Systemd.UnitsEnabled {
		var msg string
		switch {
		case seen[u]:
			msg = fmt.Sprintf("units_enabled lists %q twice; keep one", u)
		case !isUnitName(u, unitSuffixes):
			msg = fmt.Sprintf("units_enabled lists %q, which is not a unit name (a unit needs a suffix such as .service or .timer)", u)
		case !have[unitFile(u)]:
			msg = fmt.Sprintf("units_enabled lists %q, but systemd/%s does not exist; add the unit file or remove it from the list", u, unitFile(u))
		}
		seen[u] = true
		if msg != "" {
			probs = append(probs, problem{ManifestName, msg})
		}
	}
	return probs
}

// conflicts finds things two apps on one host both want: a symlink path
// (or one inside another), a unit, a sysusers file or a quadlet. Whichever
// app deployed second would silently win.
func conflicts(h *Host) []problem {
	var probs []problem
	owner := map[string]string{} // claim -> app
	claim := func(a *App, key, where, what string) {
		if prev, ok := owner[key]; ok && prev != a.Name {
			probs = append(probs, problem{h.Name + "/" + a.Name + "/" + where,
				fmt.Sprintf("%s is also claimed by app %q on this host; it can belong to one app only", what, prev)})
			return
		}
		owner[key] = a.Name
	}
	for _, a := range h.Apps {
		for _, u := range a.Units {
			claim(a, "unit:"+u, "systemd/"+u, "unit file "+u)
		}
		for _, u := range a.Sysusers {
			claim(a, "sysusers:"+u, "sysusers/"+u, "sysusers file "+u)
		}
		for _, q := range a.Quadlets {
			claim(a, "quadlet:"+q, "quadlets/"+q, "quadlet "+q)
		}
		for _, link := range sortedKeys(a.Manifest.Symlinks) {
			claim(a, "link:"+link, ManifestName, "symlink "+link)
		}
	}
	return append(probs, nestedLinks(h, owner)...)
}

// nestedLinks finds symlink paths inside other symlink paths: /etc/a would
// be a link to a file, so /etc/a/b cannot exist.
func nestedLinks(h *Host, owner map[string]string) []problem {
	var probs []problem
	for _, a := range h.Apps {
		for _, link := range sortedKeys(a.Manifest.Symlinks) {
			if checkLinkPath(link) != "" {
				continue // reported already
			}
			for dir := path.Dir(link); dir != "/" && dir != "."; dir = path.Dir(dir) {
				if app, ok := owner["link:"+dir]; ok {
					probs = append(probs, problem{h.Name + "/" + a.Name + "/" + ManifestName,
						fmt.Sprintf("symlink %s is inside symlink %s of app %q; a path cannot be both a link and a directory", link, dir, app)})
					break
				}
			}
		}
	}
	return probs
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
