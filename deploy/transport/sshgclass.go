package transport

import (
	"bufio"
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// One `ssh -G` costs about 3.5 ms of CPU (a process, OpenSSH reading its
// config): for a fleet of 10,000 hosts, 35 s before the first connection.
// Most fleets' configs give many hosts the same options through the same
// Host blocks (`Host *.prod`), so deptool asks OpenSSH once per class of
// hosts: hosts whose names match exactly the same Host lines, in a config
// without Match (whose conditions deptool cannot evaluate) and without
// %-tokens that OpenSSH expands in what it prints, except HostName's %h.
// OpenSSH processes such a config identically for every host of a class,
// so what it prints differs only in the host's name (`host`) and its
// HostName (`hostname`), which deptool derives as OpenSSH does: the first
// HostName of the class, %h replaced by the name asked for, lowercased;
// or the name itself, lowercased.
//
// Every derivation is checked once per class against OpenSSH itself: the
// second host of each class is also asked the slow way, and any difference
// turns classes off for that config (every host is then asked in turn).
// A config that names every host in a block of its own puts each host in
// a class of its own: one `ssh -G` per host, as before.

// gConfig is what deptool knows of one ssh_config set-up (the file named
// with -F, or ~/.ssh/config and /etc/ssh/ssh_config), with their Includes.
type gConfig struct {
	files map[string]string   // every file read, by path: its stamp
	globs map[string][]string // every Include pattern: what it matched
	// unsafe says why classes do not apply; "" when they do.
	unsafe string
	items  []gItem
	hosts  [][]string       // the arguments of each Host line, in order
	exact  map[string][]int // a literal pattern: the Host lines naming it
	wild   []int            // Host lines with a pattern holding * or ?
	// own are the Host lines of one literal name whose block sets only
	// ownKeys, by name: a config with a block per host keeps them out of
	// the classes, so such hosts still share one.
	own    map[string][]int
	isOwn  map[int]bool
	hostAt []int // the item index of each Host line
	// included says a Host line is in an Included file, which may be
	// read under a block that does not apply (OpenSSH's NEVERMATCH).
	included []bool

	mu      sync.Mutex
	classes map[string]*gClass
	off     atomic.Bool // a derivation differed from OpenSSH's answer
}

type gItemKind int

const (
	gTopFile gItemKind = iota // a top-level file starts: options apply
	gHost                     // a Host line
	gIncludeBegin
	gIncludeEnd
	gOption // any other line: its keyword and first argument
)

type gItem struct {
	kind  gItemKind
	host  int    // gHost: the index into gConfig.hosts
	key   string // gOption, lowercase
	value string // gOption
}

// ownKeys are the keywords a host's own block may set and still leave the
// host in the class of the blocks it shares: OpenSSH prints their values
// as written (HostName lowercased), so deptool derives them.
var ownKeys = []string{"hostname", "port", "user"}

// firstValue is the first value a host gets for a keyword, and where.
type firstValue struct {
	pos   int // index into gConfig.items
	value string
}

// gClass is one class of hosts: the first host asked for, OpenSSH's
// answer for it, and its HostName.
type gClass struct {
	once   sync.Once
	rep    string
	out    map[string][]string
	err    error
	verify sync.Once
	// first are the first values the class's shared blocks give for
	// ownKeys, without any host's own block.
	firstOnce sync.Once
	first     map[string]firstValue
}

var gConfigs = struct {
	sync.Mutex
	m map[string]*gConfig
}{m: map[string]*gConfig{}}

// gConfigFor returns the parsed set-up, parsed again when any of its files
// or Include matches changed.
func gConfigFor(file string, explicit bool, home string) *gConfig {
	key := strconv.FormatBool(explicit) + "\x00" + file + "\x00" + home
	gConfigs.Lock()
	c := gConfigs.m[key]
	gConfigs.Unlock()
	if c != nil && c.fresh() {
		return c
	}
	c = readGConfig(file, explicit, home)
	gConfigs.Lock()
	gConfigs.m[key] = c
	gConfigs.Unlock()
	return c
}

func (c *gConfig) fresh() bool {
	for f, st := range c.files {
		if stamp(f) != st {
			return false
		}
	}
	for p, was := range c.globs {
		now, _ := filepath.Glob(p)
		if !slices.Equal(now, was) {
			return false
		}
	}
	return true
}

// gKeepsTokens are keywords whose %-tokens `ssh -G` prints as written
// (OpenSSH 9.2: they are expanded only when ssh connects), or that deptool
// ignores (ControlPath): a % in them is the same for every host of a
// class. A % in any other keyword may be expanded with the host's name.
var gKeepsTokens = map[string]bool{
	"identityfile": true, "certificatefile": true, "proxycommand": true, "controlpath": true,
}

func readGConfig(file string, explicit bool, home string) *gConfig {
	c := &gConfig{files: map[string]string{}, globs: map[string][]string{}, exact: map[string][]int{},
		own: map[string][]int{}, isOwn: map[int]bool{}, classes: map[string]*gClass{}}
	c.read(file, true, home, 0)
	if !explicit {
		c.read("/etc/ssh/ssh_config", false, home, 0)
	}
	c.findOwn()
	return c
}

// findOwn moves the Host lines that are one host's own block (one literal
// name; only ownKeys, each with one plain value; the block ends at the
// next Host line or at the end of a file, not in an Included file) from
// exact to own.
func (c *gConfig) findOwn() {
	for i, args := range c.hosts {
		if len(args) != 1 || strings.ContainsAny(args[0], "*?!") || c.included[i] {
			continue
		}
		simple := true
		j := c.hostAt[i] + 1
		for ; j < len(c.items) && c.items[j].kind == gOption; j++ {
			it := c.items[j]
			if !slices.Contains(ownKeys, it.key) || it.value == "" || strings.Contains(it.value, "%") {
				simple = false
			}
			if p, err := strconv.Atoi(it.value); it.key == "port" && (err != nil || p < 1 || p > 65535) {
				simple = false // OpenSSH's error is for OpenSSH to say
			}
		}
		if j < len(c.items) && c.items[j].kind == gIncludeBegin {
			simple = false // the Include runs inside this block
		}
		if !simple {
			continue
		}
		name := args[0]
		c.exact[name] = slices.DeleteFunc(c.exact[name], func(l int) bool { return l == i })
		if len(c.exact[name]) == 0 {
			delete(c.exact, name)
		}
		c.own[name] = append(c.own[name], i)
		c.isOwn[i] = true
	}
}

func (c *gConfig) fail(why string) {
	if c.unsafe == "" {
		c.unsafe = why
	}
}

// read adds one file's lines; depth is its Include depth (0 at the top).
func (c *gConfig) read(file string, user bool, home string, depth int) {
	if depth > 16 {
		c.fail("Include nested too deep")
		return
	}
	c.files[file] = stamp(file)
	data, err := os.ReadFile(file)
	if err != nil {
		if !os.IsNotExist(err) {
			c.fail("cannot read " + file)
		}
		return
	}
	if depth == 0 {
		c.items = append(c.items, gItem{kind: gTopFile})
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t\r")
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, " \t=")
		if end < 0 {
			end = len(line)
		}
		key := strings.ToLower(line[:end])
		rest := strings.TrimLeft(line[end:], " \t\r")
		rest = strings.TrimLeft(strings.TrimPrefix(rest, "="), " \t\r")
		switch key {
		case "match", "canonicalizehostname":
			c.fail(key)
		case "host":
			args := configArgs(rest)
			if args == nil {
				c.fail("a Host line deptool cannot split")
				continue
			}
			i := len(c.hosts)
			c.hosts = append(c.hosts, args)
			c.hostAt = append(c.hostAt, len(c.items))
			c.included = append(c.included, depth > 0)
			c.items = append(c.items, gItem{kind: gHost, host: i})
			wild := false
			for _, a := range args {
				p := strings.TrimPrefix(a, "!")
				if strings.ContainsAny(p, "*?") {
					wild = true
				} else if !slices.Contains(c.exact[p], i) {
					c.exact[p] = append(c.exact[p], i)
				}
			}
			if wild {
				c.wild = append(c.wild, i)
			}
		case "hostname":
			args := configArgs(rest)
			if len(args) != 1 || !onlyHostToken(args[0]) {
				c.fail("HostName with tokens other than %h")
				continue
			}
			c.items = append(c.items, gItem{kind: gOption, key: key, value: args[0]})
		case "include":
			args := configArgs(rest)
			if args == nil || strings.ContainsAny(rest, "%$") {
				c.fail("an Include deptool cannot expand")
				continue
			}
			c.items = append(c.items, gItem{kind: gIncludeBegin})
			for _, a := range args {
				p := a
				if strings.HasPrefix(p, "~/") {
					p = filepath.Join(home, p[2:])
				} else if !filepath.IsAbs(p) {
					if user {
						p = filepath.Join(home, ".ssh", p)
					} else {
						p = filepath.Join("/etc/ssh", p)
					}
				}
				matches, err := filepath.Glob(p)
				if err != nil {
					c.fail("bad Include pattern")
				}
				c.globs[p] = matches
				for _, m := range matches {
					c.read(m, user, home, depth+1)
				}
			}
			c.items = append(c.items, gItem{kind: gIncludeEnd})
		default:
			if strings.Contains(rest, "%") && !gKeepsTokens[key] {
				c.fail(key + " with %-tokens")
			}
			v := ""
			if args := configArgs(rest); len(args) == 1 {
				v = args[0]
			}
			c.items = append(c.items, gItem{kind: gOption, key: key, value: v})
		}
	}
	if sc.Err() != nil {
		c.fail("cannot read " + file)
	}
}

// configArgs splits a line's arguments at blanks, up to a comment; nil
// for quotes or escapes, which deptool leaves to OpenSSH.
func configArgs(rest string) []string {
	if strings.ContainsAny(rest, "\"'\\") {
		return nil
	}
	var out []string
	for _, f := range strings.Fields(rest) {
		if f[0] == '#' {
			break
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func onlyHostToken(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			continue
		}
		if i+1 == len(v) || (v[i+1] != 'h' && v[i+1] != '%') {
			return false
		}
		i++
	}
	return true
}

// signature names a host's class: the Host lines its name matches, as
// OpenSSH matches them (case-sensitive * and ? globs; a line matches when
// one pattern does and no negated one does).
func (c *gConfig) signature(alias string) string {
	lines := append(slices.Clone(c.exact[alias]), c.wild...)
	slices.Sort(lines)
	var b strings.Builder
	for i, l := range lines {
		if i > 0 && lines[i-1] == l {
			continue
		}
		if hostLineMatches(c.hosts[l], alias) {
			b.WriteString(strconv.Itoa(l))
			b.WriteByte(',')
		}
	}
	return b.String()
}

func hostLineMatches(args []string, alias string) bool {
	matched := false
	for _, a := range args {
		neg := strings.HasPrefix(a, "!")
		if !globMatch(strings.TrimPrefix(a, "!"), alias) {
			continue
		}
		if neg {
			return false
		}
		matched = true
	}
	return matched
}

// globMatch is OpenSSH's match_pattern: * and ?, nothing else special.
func globMatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if globMatch(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

// firstValues walks the config as OpenSSH does for a host whose name
// matches the Host lines for which matches says so, and returns the first
// value it gets for each of ownKeys.
func (c *gConfig) firstValues(matches func(line int) bool) map[string]firstValue {
	type frame struct{ active, never bool }
	active, never := true, false
	var stack []frame
	out := map[string]firstValue{}
	for pos, it := range c.items {
		switch it.kind {
		case gTopFile:
			active, never, stack = true, false, nil
		case gIncludeBegin:
			stack = append(stack, frame{active, never})
			never = never || !active
		case gIncludeEnd:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			active, never = f.active, f.never
		case gHost:
			active = !never && matches(it.host)
		case gOption:
			if _, seen := out[it.key]; active && !seen && slices.Contains(ownKeys, it.key) {
				out[it.key] = firstValue{pos, it.value}
			}
		}
	}
	return out
}

// derive is OpenSSH's answer for alias, from the one for its class: the
// class's answer with the host's name, and HostName, Port and User as the
// first of the shared blocks' and the host's own block's give them, or
// OpenSSH's defaults.
func (c *gConfig) derive(cl *gClass, alias string, defaults map[string][]string) map[string][]string {
	cl.firstOnce.Do(func() {
		cl.first = c.firstValues(func(l int) bool { return !c.isOwn[l] && hostLineMatches(c.hosts[l], cl.rep) })
	})
	out := maps.Clone(cl.out)
	out["host"] = []string{alias}
	for _, k := range ownKeys {
		v, ok := cl.first[k]
		for _, l := range c.own[alias] {
			for pos := c.hostAt[l] + 1; pos < len(c.items) && c.items[pos].kind == gOption; pos++ {
				if it := c.items[pos]; it.key == k && (!ok || pos < v.pos) {
					v, ok = firstValue{pos, it.value}, true
					break
				}
			}
		}
		switch {
		case k == "hostname" && ok:
			out[k] = []string{lowerASCII(strings.NewReplacer("%h", alias, "%%", "%").Replace(v.value))}
		case k == "hostname":
			out[k] = []string{lowerASCII(alias)}
		case ok:
			out[k] = []string{v.value}
		default:
			out[k] = defaults[k]
		}
	}
	return out
}

func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// sameG compares two answers but for ControlPath, which OpenSSH expands
// with the host's name and deptool ignores.
func sameG(a, b map[string][]string) bool {
	return maps.EqualFunc(a, b, slices.Equal[[]string]) ||
		maps.EqualFunc(withoutControlPath(a), withoutControlPath(b), slices.Equal[[]string])
}

func withoutControlPath(m map[string][]string) map[string][]string {
	m = maps.Clone(m)
	delete(m, "controlpath")
	return m
}

// sshGClassed is sshG for a host reached directly (not as a jump host),
// asking OpenSSH once per class where the config allows.
func sshGClassed(bin, file string, explicit bool, home, alias string) (map[string][]string, error) {
	c := gConfigFor(file, explicit, home)
	if c.unsafe != "" || c.off.Load() {
		return sshG(bin, file, explicit, alias, nil)
	}
	sig := c.signature(alias)
	c.mu.Lock()
	cl := c.classes[sig]
	if cl == nil {
		cl = &gClass{}
		c.classes[sig] = cl
	}
	c.mu.Unlock()
	cl.once.Do(func() {
		cl.rep = alias
		cl.out, cl.err = sshG(bin, file, explicit, alias, nil)
	})
	if cl.rep == alias || cl.err != nil {
		if cl.rep == alias {
			return cl.out, cl.err
		}
		return sshG(bin, file, explicit, alias, nil)
	}
	defaults, err := sshDefaults(bin)
	if err != nil {
		return sshG(bin, file, explicit, alias, nil)
	}
	got := c.derive(cl, alias, defaults)
	cl.verify.Do(func() {
		real, err := sshG(bin, file, explicit, alias, nil)
		if err != nil || !sameG(real, got) {
			c.off.Store(true)
		}
	})
	if c.off.Load() {
		return sshG(bin, file, explicit, alias, nil)
	}
	return got, nil
}
