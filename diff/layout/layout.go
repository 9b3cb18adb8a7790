// Package layout is the one table of where deptool puts things on a host:
// its own state under /var/lib/deptool, and the system directories an
// app's special directories are linked into. The planner's validation
// (which refuses manifest symlinks into these places), the agent (which
// writes there) and the systemd driver (which repairs install links there)
// all read it here, so the places cannot drift apart.
//
// It imports nothing, so every package may import it.
package layout

import "strings"

// Deptool's own state on a host.
const (
	StateDir    = "/var/lib/deptool"
	LockFile    = StateDir + "/lock"          // flock'd by the agent; holds its holder
	StoreDir    = StateDir + "/store"         // bare Git store of this host's commits only
	AppsDir     = StateDir + "/apps"          // apps/<app>/<tree>, current, previous
	AdoptedDir  = StateDir + "/adopted"       // host files replaced by identical links
	AttemptFile = StateDir + "/attempt.json"  // what the last apply did, for undo
	JournalFile = StateDir + "/journal.jsonl" // one line per apply
	AgentDir    = StateDir + "/bin"           // deptool-<version>-<build>, the agents
	// ConfirmSocket is where an apply waiting for confirmation listens
	// for the agent of a new connection.
	ConfirmSocket = StateDir + "/confirm.sock"
)

// Hostname is the file the agent checks against the host's name in the
// config tree.
const Hostname = "/etc/hostname"

// System directories an app's files are linked into.
const (
	UnitDir     = "/etc/systemd/system"     // from the app's systemd/
	SysusersDir = "/etc/sysusers.d"         // from the app's sysusers/
	QuadletDir  = "/etc/containers/systemd" // from the app's quadlets/
)

// Special is an app directory whose files are linked into a system
// directory rather than reached through manifest symlinks.
type Special struct {
	Dir  string // the directory in the app, e.g. "systemd"
	Host string // where its files are linked on the host
	What string // what it holds, for messages
}

// Specials are the app directories deptool links into the system.
var Specials = []Special{
	{Dir: "systemd", Host: UnitDir, What: "unit files"},
	{Dir: "sysusers", Host: SysusersDir, What: "sysusers files"},
	{Dir: "quadlets", Host: QuadletDir, What: "quadlet files"},
}

// Reserved is a directory deptool manages on a host, and what to do
// instead of pointing a manifest symlink into it.
type Reserved struct {
	Dir     string
	Instead string
}

// Reservations are the directories no manifest symlink may land in, on or
// above: the specials' system directories and deptool's own state.
func Reservations() []Reserved {
	out := make([]Reserved, 0, len(Specials)+1)
	for _, s := range Specials {
		out = append(out, Reserved{Dir: s.Host, Instead: "put " + s.What + " in the app's " + s.Dir + "/ directory instead"})
	}
	return append(out, Reserved{Dir: StateDir, Instead: "deptool keeps its own state there"})
}

// Clash says why a symlink at host path p would touch a directory deptool
// manages, or "" when it does not.
func Clash(p string) string {
	for _, r := range Reservations() {
		if p == r.Dir || strings.HasPrefix(p, r.Dir+"/") {
			return r.Dir + " is managed by deptool; " + r.Instead
		}
		if strings.HasPrefix(r.Dir, p+"/") {
			return "the link would replace " + p + ", which holds " + r.Dir + " managed by deptool"
		}
	}
	for _, d := range LoadDirs {
		if p == d || strings.HasPrefix(p, d+"/") || strings.HasPrefix(d, p+"/") {
			what, dir, real := "units", "systemd/", UnitDir
			if strings.HasSuffix(d, "sysusers.d") {
				what, dir, real = "users", "sysusers/", SysusersDir
			}
			return d + " is where systemd finds " + what + ": one linked there escapes deptool's enable, reload, check and rollback; put it in the app's " + dir + " directory, which deptool links into " + real
		}
	}
	return ""
}

// LoadDirs are the other directories systemd loads system units from
// (systemd.unit(5)), and sysusers' other directories. A file linked into
// one becomes a unit or a user that deptool never enables, reloads, checks
// or rolls back, so no manifest symlink may land in, on or above one.
var LoadDirs = []string{
	"/etc/systemd/system.control", "/etc/systemd/system.attached",
	"/run/systemd/system", "/run/systemd/system.control", "/run/systemd/system.attached",
	"/run/systemd/transient", "/run/systemd/generator", "/run/systemd/generator.early", "/run/systemd/generator.late",
	"/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system",
	"/usr/lib/sysusers.d", "/usr/local/lib/sysusers.d", "/run/sysusers.d",
}
