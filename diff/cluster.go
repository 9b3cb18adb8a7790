package diff

import (
	"sort"
	"strings"

	"github.com/deptool/deptool/store"
)

// Cluster is a config tree as the planner sees it.
type Cluster struct {
	Tree  store.ID
	Hosts []*Host // sorted by name
}

// Host is one host directory of a config tree.
type Host struct {
	Name string
	Tree store.ID
	Apps []*App // sorted by name
}

// App is one app directory: files deployed together, and what the manifest
// and the special directories ask the host to do with them.
type App struct {
	Name     string
	Tree     store.ID
	Manifest Manifest
	// Units are the files under systemd/: unit files ("a.service") and
	// drop-ins ("a.service.d/override.conf"), sorted.
	Units []string
	// Sysusers are the *.conf files under sysusers/, sorted.
	Sysusers []string
	// Quadlets are the files under quadlets/, with drop-ins as for Units.
	Quadlets []string
}

// Host returns the host named name, or nil.
func (c *Cluster) Host(name string) *Host {
	i := sort.Search(len(c.Hosts), func(i int) bool { return c.Hosts[i].Name >= name })
	if i < len(c.Hosts) && c.Hosts[i].Name == name {
		return c.Hosts[i]
	}
	return nil
}

// LoadCluster reads the config tree tree from the store. It fails when the
// tree cannot be modelled faithfully (a manifest that does not parse, a file
// where a host or app directory belongs, a stray file under systemd/); the
// error lists every such problem. Validate checks the remaining rules.
func LoadCluster(s *store.Store, tree store.ID) (*Cluster, error) {
	c, probs, err := newLoader(s).cluster(tree)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, newValidationError(probs, "")
	}
	return c, nil
}

// source is what the planner reads from the store. Tests wrap it to prove
// that unchanged hosts and apps are never opened.
type source interface {
	ReadTree(id store.ID) ([]store.Entry, error)
	ReadBlob(id store.ID) ([]byte, error)
	HostRef(host string) (store.ID, bool, error)
	HostRefs() (map[string]store.ID, error)
	CommitInfo(id store.ID) (store.CommitInfo, error)
	DeployOf(hostCommit store.ID) (store.ID, bool, error)
	Pins() (map[string]store.ID, error)
}

// readTree reads a tree, treating the empty tree (a host never deployed)
// and the zero id (something absent) as empty without asking the store,
// which need not hold the empty tree.
func readTree(src source, id store.ID) ([]store.Entry, error) {
	if id == store.EmptyTree || id.IsZero() {
		return nil, nil
	}
	return src.ReadTree(id)
}

// problem is one thing wrong with a config tree; path is relative to the
// cluster directory until it is shown.
type problem struct{ path, msg string }

// appData is what the planner and validation need from one app tree. It
// depends only on the tree id, so identical apps on many hosts load once.
type appData struct {
	root     []store.Entry
	manifest Manifest
	units    []string
	sysusers []string
	quadlets []string
	problems []problem // paths relative to the app root
}

type loader struct {
	src      source
	apps     map[store.ID]*appData
	listings map[listingKey]*listing
	rules    map[store.ID][]problem // validate's per-app rules, by app tree
	// installs says, by unit file blob, whether it has an [Install]
	// section: a fleet's hosts share their unit files, so each is read
	// once, not once per host (10,000 reads in the 1,000-host tree).
	installs  map[store.ID]bool
	files     map[store.ID][]AppFile // files under a tree, by tree
	secretsIn map[store.ID][]AppFile // secrets under a tree, by tree
	headers   map[store.ID]headerResult
	changed   map[string][]*App // per host, the apps differing from its ref
}

func newLoader(src source) *loader {
	return &loader{
		src:       src,
		apps:      map[store.ID]*appData{},
		listings:  map[listingKey]*listing{},
		rules:     map[store.ID][]problem{},
		installs:  map[store.ID]bool{},
		files:     map[store.ID][]AppFile{},
		secretsIn: map[store.ID][]AppFile{},
		headers:   map[store.ID]headerResult{},
		changed:   map[string][]*App{},
	}
}

func (l *loader) cluster(tree store.ID) (*Cluster, []problem, error) {
	entries, err := readTree(l.src, tree)
	if err != nil {
		return nil, nil, err
	}
	c := &Cluster{Tree: tree}
	var probs []problem
	for _, e := range entries {
		if !e.IsDir() {
			probs = append(probs, problem{e.Name, "a file at the top of the config tree; the top holds only host directories"})
			continue
		}
		h, hostProbs, err := l.host(e)
		if err != nil {
			return nil, nil, err
		}
		c.Hosts = append(c.Hosts, h)
		probs = append(probs, hostProbs...)
	}
	sort.Slice(c.Hosts, func(i, j int) bool { return c.Hosts[i].Name < c.Hosts[j].Name })
	return c, probs, nil
}

func (l *loader) host(e store.Entry) (*Host, []problem, error) {
	entries, err := readTree(l.src, e.ID)
	if err != nil {
		return nil, nil, err
	}
	h := &Host{Name: e.Name, Tree: e.ID}
	var probs []problem
	for _, ae := range entries {
		if !ae.IsDir() {
			probs = append(probs, problem{e.Name + "/" + ae.Name, "a file directly in a host directory; put it in an app directory"})
			continue
		}
		d, err := l.app(ae.ID)
		if err != nil {
			return nil, nil, err
		}
		h.Apps = append(h.Apps, d.model(ae))
		for _, p := range d.problems {
			probs = append(probs, problem{e.Name + "/" + ae.Name + "/" + p.path, p.msg})
		}
	}
	sort.Slice(h.Apps, func(i, j int) bool { return h.Apps[i].Name < h.Apps[j].Name })
	return h, probs, nil
}

func (d *appData) model(e store.Entry) *App {
	return &App{Name: e.Name, Tree: e.ID, Manifest: d.manifest, Units: d.units, Sysusers: d.sysusers, Quadlets: d.quadlets}
}

func (l *loader) app(tree store.ID) (*appData, error) {
	if d, ok := l.apps[tree]; ok {
		return d, nil
	}
	root, err := readTree(l.src, tree)
	if err != nil {
		return nil, err
	}
	d := &appData{root: root}
	for _, e := range root {
		var ls *listing
		switch e.Name {
		case ManifestName:
			ls, err = l.manifest(e)
		case "systemd":
			ls, err = l.listDir(e, unitDir)
		case "sysusers":
			ls, err = l.listDir(e, sysusersDir)
		case "quadlets":
			ls, err = l.listDir(e, quadletDir)
		}
		if err != nil {
			return nil, err
		}
		if ls != nil {
			d.add(e.Name, ls)
		}
	}
	l.apps[tree] = d
	return d, nil
}

func (d *appData) add(name string, ls *listing) {
	switch name {
	case ManifestName:
		if ls.manifest != nil {
			d.manifest = *ls.manifest
		}
	case "systemd":
		d.units = ls.names
	case "sysusers":
		d.sysusers = ls.names
	case "quadlets":
		d.quadlets = ls.names
	}
	d.problems = append(d.problems, ls.problems...)
}

// listing is what one entry of an app contributes: a parsed manifest, or
// the names in a special directory, and the problems found. Listings are
// kept by object id, because manifests and unit directories tend to be
// identical across the hosts of a cluster even where the apps differ.
type listing struct {
	manifest *Manifest
	names    []string
	problems []problem // relative to the app root
}

type listingKey struct {
	dir string
	id  store.ID
}

func (l *loader) manifest(e store.Entry) (*listing, error) {
	if !isFile(e) {
		return &listing{problems: []problem{{ManifestName, "must be a regular file holding a JSON object"}}}, nil
	}
	key := listingKey{ManifestName, e.ID}
	if ls, ok := l.listings[key]; ok {
		return ls, nil
	}
	data, err := l.src.ReadBlob(e.ID)
	if err != nil {
		return nil, err
	}
	ls := &listing{}
	if m, err := parseManifest(data); err != nil {
		ls.problems = []problem{{ManifestName, err.Error()}}
	} else {
		ls.manifest = &m
	}
	l.listings[key] = ls
	return ls, nil
}

func isFile(e store.Entry) bool {
	return e.Mode == store.ModeFile || e.Mode == store.ModeExecutable
}

// specialDir describes one of the directories whose files deptool links
// into a system directory: which names belong there and what to say about
// the rest.
type specialDir struct {
	name     string
	suffixes []string // file suffixes allowed; nil means *.conf only
	dropIns  bool     // whether <file>.d/*.conf directories are allowed
	hint     string
}

var (
	unitDir = specialDir{name: "systemd", suffixes: unitSuffixes, dropIns: true,
		hint: "systemd/ holds unit files (such as app.service or app.timer) and drop-in directories (app.service.d/*.conf); move anything else elsewhere in the app"}
	sysusersDir = specialDir{name: "sysusers",
		hint: "sysusers/ holds only *.conf files, the only ones systemd-sysusers reads; rename or move it"}
	quadletDir = specialDir{name: "quadlets", suffixes: quadletSuffixes, dropIns: true,
		hint: "quadlets/ holds podman quadlet files (such as app.container or app.volume) and their drop-in directories (app.container.d/*.conf); move anything else elsewhere in the app"}
)

func (sd specialDir) accepts(name string) bool {
	if sd.suffixes == nil {
		return isConfName(name)
	}
	return isUnitName(name, sd.suffixes)
}

func isConfName(name string) bool {
	return len(name) > len(".conf") && strings.HasSuffix(name, ".conf")
}

// listDir lists a special directory, recording anything that does not
// belong as a problem.
func (l *loader) listDir(e store.Entry, sd specialDir) (*listing, error) {
	ls := &listing{}
	if !e.IsDir() {
		ls.problems = []problem{{sd.name, "must be a directory; " + sd.hint}}
		return ls, nil
	}
	key := listingKey{sd.name, e.ID}
	if cached, ok := l.listings[key]; ok {
		return cached, nil
	}
	entries, err := readTree(l.src, e.ID)
	if err != nil {
		return nil, err
	}
	for _, c := range entries {
		p := sd.name + "/" + c.Name
		switch {
		case isFile(c) && sd.accepts(c.Name):
			ls.names = append(ls.names, c.Name)
		case c.IsDir() && sd.dropIns && strings.HasSuffix(c.Name, ".d") && sd.accepts(strings.TrimSuffix(c.Name, ".d")):
			if err := l.listDropIns(c, p, ls); err != nil {
				return nil, err
			}
		default:
			ls.problems = append(ls.problems, problem{p, "does not belong here: " + sd.hint})
		}
	}
	sort.Strings(ls.names)
	l.listings[key] = ls
	return ls, nil
}

func (l *loader) listDropIns(dir store.Entry, p string, ls *listing) error {
	entries, err := readTree(l.src, dir.ID)
	if err != nil {
		return err
	}
	for _, c := range entries {
		if isFile(c) && isConfName(c.Name) {
			ls.names = append(ls.names, dir.Name+"/"+c.Name)
			continue
		}
		ls.problems = append(ls.problems, problem{p + "/" + c.Name, "a drop-in directory holds only *.conf files; rename or move it"})
	}
	return nil
}

// lookup finds the entry at a slash-separated path inside an app.
func (l *loader) lookup(root []store.Entry, p string) (store.Entry, bool, error) {
	entries := root
	parts := strings.Split(p, "/")
	for i, name := range parts {
		e, ok := findEntry(entries, name)
		if !ok {
			return store.Entry{}, false, nil
		}
		if i == len(parts)-1 {
			return e, true, nil
		}
		if !e.IsDir() {
			return store.Entry{}, false, nil
		}
		var err error
		if entries, err = readTree(l.src, e.ID); err != nil {
			return store.Entry{}, false, err
		}
	}
	return store.Entry{}, false, nil
}

func findEntry(entries []store.Entry, name string) (store.Entry, bool) {
	for _, e := range entries {
		if e.Name == name {
			return e, true
		}
	}
	return store.Entry{}, false
}
