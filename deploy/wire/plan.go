package wire

import (
	"time"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// The plan as the agent needs it to apply a host commit: the planner's
// model (diff.HostPlan) is also the documented --output json format, and
// its shape follows what the operator shows. These types follow what the
// agent carries out, so the two change apart; package deploy converts one
// into the other, in one place, where it makes the apply request.
//
// The agent still reads the config tree in the host's Git store with
// diff's tree format functions (diff.ParseManifest, diff.Manifest,
// diff.ManifestName, diff.SecretSuffix, diff.IsSecret, diff.AppFiles):
// that is the stored tree's format, not this protocol.

// Plan is one host's part of a deploy. The agent applies it in phases
// across all of the host's apps, and each list is in that order: check
// out the apps, remove then create symlinks, link sysusers files and run
// systemd-sysusers, stop then disable units, unlink then link unit files
// and quadlets and reload systemd, enable then restart units and watch
// them settle, run the checks.
type Plan struct {
	Host string `json:"host"`
	// Base is the host commit the host must be at (zero for a host never
	// deployed): a host elsewhere refuses the stale plan.
	Base store.ID `json:"base,omitzero"`
	// To is the host's tree after the apply; the commit applied must
	// have it.
	To   store.ID  `json:"to"`
	Apps []AppPlan `json:"apps"`
	// Sysusers asks for systemd-sysusers, DaemonReload for a reload of
	// systemd's units.
	Sysusers     bool `json:"sysusers"`
	DaemonReload bool `json:"daemon_reload"`
	// Rollback says a failure rolls the host back to Base.
	Rollback bool `json:"rollback"`
}

// Action is what happens to an app, or to one of its files.
type Action string

// Actions.
const (
	Add    Action = "add"
	Update Action = "update"
	Remove Action = "remove"
)

// AppPlan is one app's part of a plan.
type AppPlan struct {
	App    string `json:"app"`
	Action Action `json:"action"`
	// To is the app's tree after the apply (zero when removed); the
	// commit applied must have it.
	To store.ID `json:"to,omitzero"`
	// Files are the app's changed files; the agent reads from them only
	// whether systemd must reload to see the unit files.
	Files    []FileChange  `json:"files,omitempty"`
	Symlinks []SymlinkStep `json:"symlinks,omitempty"`
	Sysusers []LinkStep    `json:"sysusers,omitempty"`
	Quadlets []LinkStep    `json:"quadlets,omitempty"`
	Units    []UnitStep    `json:"units,omitempty"`
	// Checks run after the units settle; Validate are commands run in
	// the new checkout before anything else changes.
	Checks   []Check    `json:"checks,omitempty"`
	Validate [][]string `json:"validate,omitempty"`
}

// FileChange names a file of the app added, changed or removed, by its
// path relative to the app. The content comes from the store, never the
// plan.
type FileChange struct {
	Op   Action `json:"op"`
	Path string `json:"path"`
}

// LinkOp creates or removes a link on the host.
type LinkOp string

// Link operations.
const (
	Link   LinkOp = "link"
	Unlink LinkOp = "unlink"
)

// SymlinkStep creates or removes a symlink of the app's manifest. Target
// is relative to the app; the link points through <app>/current/.
type SymlinkStep struct {
	Op     LinkOp `json:"op"`
	Path   string `json:"path"`
	Target string `json:"target,omitempty"`
}

// LinkStep links or unlinks a file of the app's sysusers/ or quadlets/,
// by its path in that directory.
type LinkStep struct {
	Op   LinkOp `json:"op"`
	Name string `json:"name"`
}

// UnitOp is something done to a unit.
type UnitOp string

// Unit operations, in the order the agent runs them.
const (
	Stop       UnitOp = "stop"
	Disable    UnitOp = "disable"
	UnlinkUnit UnitOp = "unlink"
	LinkUnit   UnitOp = "link"
	Enable     UnitOp = "enable"
	Restart    UnitOp = "restart"
	// Reload reloads a unit that runs, and starts one that does not.
	Reload UnitOp = "reload"
)

// UnitStep is one unit operation. Link and unlink name files under the
// app's systemd/, drop-ins included ("a.service.d/b.conf").
type UnitStep struct {
	Op   UnitOp `json:"op"`
	Unit string `json:"unit"`
	// External marks a restart or reload of a unit the app does not ship
	// (or enable): a rollback acts on it again once the old files are
	// back, and never stops it.
	External bool `json:"external,omitempty"`
}

// Check is one health check: an HTTP GET that must answer 2xx (or
// ExpectStatus), or a TCP connect that must succeed, retried until
// Timeout (a Go duration; empty means the default).
type Check struct {
	HTTP         string `json:"http,omitempty"`
	TCP          string `json:"tcp,omitempty"`
	ExpectStatus int    `json:"expect_status,omitempty"`
	Timeout      string `json:"timeout,omitempty"`
}

// A check means what the manifest's check means, so the agent judges one
// by the manifest's rules: the conversion below stops compiling when the
// two differ in fields.

// String names the check as the plan, the summary and errors show it.
func (c Check) String() string { return diff.Check(c).String() }

// Duration is how long the check may take to pass, retries included.
func (c Check) Duration() time.Duration { return diff.Check(c).Duration() }

// Validate reports the first thing wrong with the check: it comes over
// the network, and the agent runs as root.
func (c Check) Validate() error { return diff.Check(c).Validate() }
