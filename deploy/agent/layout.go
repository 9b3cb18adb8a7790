package agent

import (
	"path/filepath"
	"strings"
)

// stateDir is deptool's own directory on a host, relative to the root.
const stateDir = "/var/lib/deptool"

// layout resolves host paths under the agent's root.
type layout struct{ root string }

// host resolves an absolute host path, such as a manifest symlink's path.
func (l layout) host(p string) string { return filepath.Join(l.root, p) }

func (l layout) state(parts ...string) string {
	return filepath.Join(append([]string{l.root, stateDir}, parts...)...)
}

func (l layout) hostname() string         { return l.host("/etc/hostname") }
func (l layout) lockFile() string         { return l.state("lock") }
func (l layout) storeDir() string         { return l.state("store") }
func (l layout) appsDir() string          { return l.state("apps") }
func (l layout) appDir(app string) string { return l.state("apps", app) }
func (l layout) adoptedDir() string       { return l.state("adopted") }
func (l layout) attemptFile() string      { return l.state("attempt.json") }
func (l layout) journalFile() string      { return l.state("journal.jsonl") }
func (l layout) binDir() string           { return l.state("bin") }

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
