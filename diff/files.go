package diff

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/deptool/deptool/store"
)

// Git keeps only whether a file is executable, so the mode and ownership
// a file gets on the host come from the manifest's "files" section:
//
//	"files": {
//	  "tls/key.pem": {"mode": "0640", "owner": "root", "group": "nginx"},
//	  "tls/*.crt":   {"mode": "0644"}
//	}
//
// Keys are paths inside the app, exact or path.Match globs ("*" stays
// within one directory). An exact key wins over globs; a file two globs
// match and no exact key names is an error, so the outcome never depends
// on the order of keys. Owner and group are names (or numeric ids)
// resolved on the host by the agent, after the app's sysusers ran.

// FileAttrs is one entry of the manifest's "files" section. An empty field
// keeps the default: mode 0644 (0755 for an executable, 0600 for a
// secret), owner and group root.
type FileAttrs struct {
	Mode  string `json:"mode,omitempty"`
	Owner string `json:"owner,omitempty"`
	Group string `json:"group,omitempty"`
}

var filesShape = &shape{kind: shapeMap, elem: &shape{kind: shapeObject, fields: map[string]*shape{
	"mode":  {kind: shapeString, hint: `write the mode as an octal string, such as "0640"`},
	"owner": stringShape,
	"group": stringShape,
}}}

// SecretSuffix marks a secret: NAME.age in the config tree is an age file
// the agent decrypts on the host into NAME.
const SecretSuffix = ".age"

// Attr is a file's mode and ownership on the host, names unresolved.
type Attr struct {
	Mode  fs.FileMode
	Owner string
	Group string
}

// root is the owner and group of a file the manifest says nothing about.
const root = "root"

// String says it the way plans show it: "mode 0640 root:nginx".
func (a Attr) String() string {
	return fmt.Sprintf("mode %04o %s:%s", a.Mode.Perm(), a.Owner, a.Group)
}

// attrJSON is how an Attr travels: the mode as an octal string, as the
// manifest writes it.
type attrJSON struct {
	Mode  string `json:"mode"`
	Owner string `json:"owner"`
	Group string `json:"group"`
}

// MarshalJSON writes the mode as an octal string.
func (a Attr) MarshalJSON() ([]byte, error) {
	return json.Marshal(attrJSON{Mode: fmt.Sprintf("%04o", a.Mode.Perm()), Owner: a.Owner, Group: a.Group})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (a *Attr) UnmarshalJSON(b []byte) error {
	var j attrJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	m, err := ParseMode(j.Mode)
	if err != nil {
		return err
	}
	*a = Attr{Mode: m, Owner: j.Owner, Group: j.Group}
	return nil
}

// AppFile is one file of an app as the host sees it.
type AppFile struct {
	// Path is where it lands in the checkout, relative to the app: a
	// secret's name without .age.
	Path string
	// TreePath is its path in the config tree.
	TreePath string
	Blob     store.ID
	Exec     bool
	Secret   bool
}

// TreeReader reads trees; the store, and the planner's source.
type TreeReader interface {
	ReadTree(id store.ID) ([]store.Entry, error)
}

// AppFiles lists the regular files of an app tree, sorted by Path.
func AppFiles(r TreeReader, tree store.ID) ([]AppFile, error) {
	var out []AppFile
	if err := walkFiles(r, tree, "", &out); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func walkFiles(r TreeReader, tree store.ID, prefix string, out *[]AppFile) error {
	if tree.IsZero() || tree == store.EmptyTree {
		return nil
	}
	entries, err := r.ReadTree(tree)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := prefix + e.Name
		switch {
		case e.IsDir():
			if err := walkFiles(r, e.ID, p+"/", out); err != nil {
				return err
			}
		case isFile(e):
			*out = append(*out, appFile(p, e))
		}
	}
	return nil
}

func appFile(treePath string, e store.Entry) AppFile {
	f := AppFile{Path: treePath, TreePath: treePath, Blob: e.ID, Exec: e.Mode == store.ModeExecutable}
	if IsSecret(treePath) {
		f.Path, f.Secret = strings.TrimSuffix(treePath, SecretSuffix), true
	}
	return f
}

// IsSecret reports whether a file of the config tree is a secret.
func IsSecret(treePath string) bool {
	base := path.Base(treePath)
	return len(base) > len(SecretSuffix) && strings.HasSuffix(base, SecretSuffix)
}

// defaultAttr is what a file gets when the manifest does not say.
func defaultAttr(f AppFile) Attr {
	a := Attr{Mode: 0o644, Owner: root, Group: root}
	switch {
	case f.Secret:
		a.Mode = 0o600
	case f.Exec:
		a.Mode = 0o755
	}
	return a
}

// AttrOf is the mode and ownership file f gets on the host under manifest
// m. It fails when two globs match f and no exact key names it.
func (m Manifest) AttrOf(f AppFile) (Attr, error) {
	a := defaultAttr(f)
	e, ok, err := m.filesEntry(f.Path)
	if err != nil || !ok {
		return a, err
	}
	if e.Mode != "" {
		mode, err := ParseMode(e.Mode)
		if err != nil {
			return a, fmt.Errorf("files[%q]: %w", f.Path, err)
		}
		a.Mode = mode
	}
	if e.Owner != "" {
		a.Owner = e.Owner
	}
	if e.Group != "" {
		a.Group = e.Group
	}
	return a, nil
}

// filesEntry finds the entry for p: its exact key, or the one glob that
// matches it.
func (m Manifest) filesEntry(p string) (FileAttrs, bool, error) {
	if e, ok := m.Files[p]; ok {
		return e, true, nil
	}
	var hits []string
	for key := range m.Files {
		if isGlob(key) {
			if ok, _ := path.Match(key, p); ok {
				hits = append(hits, key)
			}
		}
	}
	switch len(hits) {
	case 0:
		return FileAttrs{}, false, nil
	case 1:
		return m.Files[hits[0]], true, nil
	}
	sort.Strings(hits)
	return FileAttrs{}, false, fmt.Errorf("%s matches both %q and %q in \"files\"; add an exact entry for it", p, hits[0], hits[1])
}

// ParseMode reads a mode as the manifest writes it: an octal string of
// three or four digits, permission bits only.
func ParseMode(s string) (fs.FileMode, error) {
	if len(s) < 3 || len(s) > 4 || strings.Trim(s, "01234567") != "" {
		return 0, fmt.Errorf("mode %q is not an octal mode such as \"0640\"", s)
	}
	n, _ := strconv.ParseUint(s, 8, 32)
	if n > 0o777 {
		return 0, fmt.Errorf("mode %q sets setuid, setgid or sticky bits; only permission bits (up to 0777) are supported", s)
	}
	return fs.FileMode(n), nil
}

// checkAccountName accepts what systemd-sysusers and useradd accept, and
// numeric ids.
func checkAccountName(what, name string) string {
	if name == "" {
		return ""
	}
	if strings.Trim(name, "0123456789") == "" {
		n, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			return fmt.Sprintf("%s %q is not a valid numeric id (at most 4294967294)", what, name)
		}
		if n == math.MaxUint32 {
			// (uid_t)-1: chown leaves the id as it is, so the file would
			// never get it and check would report drift for ever.
			return fmt.Sprintf("%s %q is -1 to chown, which changes nothing; name a real id (at most 4294967294)", what, name)
		}
		return ""
	}
	ok := len(name) <= 32
	for i, r := range name {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9'):
		case i > 0 && i == len(name)-1 && r == '$':
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Sprintf("%s %q is not a user or group name (letters, digits, _ - ., not starting with a digit or -, at most 32 characters)", what, name)
	}
	return ""
}

// checkFiles checks the "files" section against the app's files: every
// key names a file (or, as a glob, matches one), modes parse, names are
// names, and no file is left to the order of two globs.
func checkFiles(m Manifest, files []AppFile) []problem {
	var probs []problem
	add := func(format string, args ...any) {
		probs = append(probs, problem{ManifestName, fmt.Sprintf(format, args...)})
	}
	byPath := make(map[string]AppFile, len(files))
	for _, f := range files {
		byPath[f.Path] = f
	}
	for _, key := range slices.Sorted(maps.Keys(m.Files)) {
		e := m.Files[key]
		switch {
		case key == "" || path.IsAbs(key) || path.Clean(key) != key || key == ".." || strings.HasPrefix(key, "../"):
			add("files: %q must be a clean path inside the app, such as \"tls/key.pem\"", key)
			continue
		case isGlob(key):
			if _, err := path.Match(key, ""); err != nil {
				add("files: %q is not a valid glob: %v", key, err)
				continue
			}
			if !anyMatch(key, files) {
				add("files: %q matches no file in this app; fix the pattern or remove it", key)
			}
		case IsSecret(key) && byPath[strings.TrimSuffix(key, SecretSuffix)].Secret:
			add("files: %q is a secret; name the file it decrypts to, %q", key, strings.TrimSuffix(key, SecretSuffix))
		default:
			if _, ok := byPath[key]; !ok {
				add("files: %q is not a file in this app; add it or fix the name", key)
			}
		}
		if e.Mode != "" {
			mode, err := ParseMode(e.Mode)
			if err != nil {
				add("files[%q]: %v", key, err)
			} else if isGlob(key) && mode&0o077 != 0 {
				for _, f := range files {
					if ok, _ := path.Match(key, f.Path); ok && f.Secret {
						if _, exact := m.Files[f.Path]; !exact {
							add("files: %q gives mode %s to the secret %s, which others could read; secrets stay 0600 unless named on their own: add \"%s\": {\"mode\": ...} to open it on purpose, or narrow the glob", key, e.Mode, f.Path, f.Path)
						}
					}
				}
			}
		}
		for _, msg := range []string{checkAccountName("owner", e.Owner), checkAccountName("group", e.Group)} {
			if msg != "" {
				add("files[%q]: %s", key, msg)
			}
		}
	}
	if len(m.Files) > 0 {
		for _, f := range files {
			if _, _, err := m.filesEntry(f.Path); err != nil {
				add("files: %v", err)
			}
		}
	}
	return probs
}

// checkSecretNames refuses a secret whose decrypted name is also a plain
// file of the app: one of the two would overwrite the other.
func (l *loader) checkSecretNames(root []store.Entry, secrets []AppFile) ([]problem, error) {
	var probs []problem
	for _, f := range secrets {
		e, ok, err := l.lookup(root, f.Path)
		if err != nil {
			return nil, err
		}
		if ok && isFile(e) {
			probs = append(probs, problem{f.TreePath, fmt.Sprintf("decrypts to %s, which is also a file in this app; remove one of the two", f.Path)})
		}
	}
	return probs, nil
}

func anyMatch(glob string, files []AppFile) bool {
	for _, f := range files {
		if ok, _ := path.Match(glob, f.Path); ok {
			return true
		}
	}
	return false
}

// appFiles lists the files under a tree like AppFiles, once per tree id:
// subtrees shared by many apps (a tls/ directory, say) are read once.
func (l *loader) appFiles(tree store.ID) ([]AppFile, error) {
	if fs, ok := l.files[tree]; ok {
		return fs, nil
	}
	entries, err := readTree(l.src, tree)
	if err != nil {
		return nil, err
	}
	var out []AppFile
	for _, e := range entries {
		switch {
		case e.IsDir():
			sub, err := l.appFiles(e.ID)
			if err != nil {
				return nil, err
			}
			for _, f := range sub {
				f.TreePath = e.Name + "/" + f.TreePath
				f.Path = e.Name + "/" + f.Path
				out = append(out, f)
			}
		case isFile(e):
			out = append(out, appFile(e.Name, e))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	l.files[tree] = out
	return out, nil
}

// fileAttrs marks secrets among an app's changed files and notes the mode
// and ownership of each, and adds the files whose content stayed but whose
// mode or ownership changed with the manifest: those are changes too.
func (pl *planner) fileAttrs(changes []FileChange, old, cur *appData, from, to store.ID) ([]FileChange, error) {
	changed := map[string]bool{}
	for i := range changes {
		c := &changes[i]
		changed[c.Path] = true
		if IsSecret(c.Path) {
			c.Path, c.Secret = strings.TrimSuffix(c.Path, SecretSuffix), true
		}
		if c.Op == Remove {
			continue
		}
		f := AppFile{Path: c.Path, Exec: c.NewMode == Mode(store.ModeExecutable), Secret: c.Secret}
		a, _ := cur.manifest.AttrOf(f) // a conflict is validation's to report
		_, covered, _ := cur.manifest.filesEntry(f.Path)
		if c.Op == Update {
			_, wasCovered, _ := old.manifest.filesEntry(f.Path)
			f.Exec = c.OldMode == Mode(store.ModeExecutable)
			was, _ := old.manifest.AttrOf(f)
			// Without an entry, a mode change is Git's executable bit,
			// which the line shows as such.
			c.AttrChanged = was != a && (covered || wasCovered)
		}
		if c.AttrChanged || covered && a != defaultAttr(f) {
			c.Attr = &a
		}
	}
	if from.IsZero() || to.IsZero() || maps.Equal(old.manifest.Files, cur.manifest.Files) {
		return changes, nil
	}
	// The files section changed: files it now covers differently changed
	// too, though their content did not.
	oldFiles, err := pl.loader.appFiles(from)
	if err != nil {
		return nil, err
	}
	curFiles, err := pl.loader.appFiles(to)
	if err != nil {
		return nil, err
	}
	before := make(map[string]AppFile, len(oldFiles))
	for _, f := range oldFiles {
		before[f.TreePath] = f
	}
	for _, f := range curFiles {
		o, ok := before[f.TreePath]
		if !ok || changed[f.TreePath] || o != f {
			continue
		}
		was, _ := old.manifest.AttrOf(f)
		now, _ := cur.manifest.AttrOf(f)
		if was == now {
			continue
		}
		mode := Mode(store.ModeFile)
		if f.Exec {
			mode = Mode(store.ModeExecutable)
		}
		changes = append(changes, FileChange{Op: Update, Path: f.Path, Old: f.Blob, New: f.Blob,
			OldMode: mode, NewMode: mode, Secret: f.Secret, Attr: &now, AttrChanged: true})
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	return changes, nil
}

// secrets lists the secrets under a tree, once per tree id. Unlike
// appFiles it allocates nothing for the common tree without secrets, which
// matters: validation looks for secrets in every app of the cluster.
func (l *loader) secrets(tree store.ID) ([]AppFile, error) {
	if fs, ok := l.secretsIn[tree]; ok {
		return fs, nil
	}
	entries, err := readTree(l.src, tree)
	if err != nil {
		return nil, err
	}
	var out []AppFile
	for _, e := range entries {
		switch {
		case e.IsDir():
			sub, err := l.secrets(e.ID)
			if err != nil {
				return nil, err
			}
			for _, f := range sub {
				f.TreePath = e.Name + "/" + f.TreePath
				f.Path = e.Name + "/" + f.Path
				out = append(out, f)
			}
		case isFile(e) && IsSecret(e.Name):
			out = append(out, appFile(e.Name, e))
		}
	}
	l.secretsIn[tree] = out
	return out, nil
}
