package agent

import (
	"path/filepath"
	"strings"

	hostlayout "github.com/deptool/deptool/diff/layout"
)

// layout resolves host paths under the agent's root. The paths themselves
// are package layout's table, which the planner's validation reads too.
type layout struct{ root string }

// host resolves an absolute host path, such as a manifest symlink's path.
func (l layout) host(p string) string { return filepath.Join(l.root, p) }

func (l layout) hostname() string         { return l.host(hostlayout.Hostname) }
func (l layout) lockFile() string         { return l.host(hostlayout.LockFile) }
func (l layout) storeDir() string         { return l.host(hostlayout.StoreDir) }
func (l layout) appsDir() string          { return l.host(hostlayout.AppsDir) }
func (l layout) appDir(app string) string { return l.host(hostlayout.AppsDir + "/" + app) }
func (l layout) adoptedDir() string       { return l.host(hostlayout.AdoptedDir) }
func (l layout) attemptFile() string      { return l.host(hostlayout.AttemptFile) }
func (l layout) journalFile() string      { return l.host(hostlayout.JournalFile) }
func (l layout) binDir() string           { return l.host(hostlayout.AgentDir) }

// linkTarget is where a manifest symlink to file of app points.
func (l layout) linkTarget(app, file string) string {
	return filepath.Join(l.appDir(app), "current", file)
}

// ours reports whether a symlink target points into deptool's apps, which
// is what makes a link deptool's to remove.
func (l layout) ours(target string) bool {
	return strings.HasPrefix(target, l.appsDir()+"/")
}

// adoptedCopy is where the file adopted at host path p is kept.
func (l layout) adoptedCopy(p string) string {
	return filepath.Join(l.adoptedDir(), p)
}
