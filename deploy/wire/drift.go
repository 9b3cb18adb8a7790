package wire

import "github.com/deptool/deptool/store"

// DriftRequest asks the agent to compare the host with its current host
// commit and to run every app's health checks. It needs a hello, not the
// lock: nothing changes.
type DriftRequest struct{}

// DriftReply is what the agent found.
type DriftReply struct {
	// Current is the host commit the host runs; zero when nothing was
	// ever applied there.
	Current store.ID `json:"current,omitzero"`
	Drift   []Drift  `json:"drift,omitempty"`
	// Checks are every app's health checks, run now.
	Checks []CheckReport `json:"checks,omitempty"`
}

// DriftKind says what drifted.
type DriftKind string

// Kinds of drift.
const (
	DriftFile     DriftKind = "file"     // a file in a checkout differs from the host commit
	DriftCheckout DriftKind = "checkout" // the app's current link names another checkout
	DriftLink     DriftKind = "link"     // a link deptool made was removed or replaced
	DriftUnit     DriftKind = "unit"     // an enabled unit is disabled or not active
	DriftAttempt  DriftKind = "attempt"  // an apply was cut short and not undone
	DriftStore    DriftKind = "store"    // a pack of the host store fails its checksum
)

// Drift is one difference between the host and its host commit.
type Drift struct {
	App  string    `json:"app"`
	Kind DriftKind `json:"kind"`
	// Path is the file (relative to the app), link (a host path) or unit.
	Path string `json:"path"`
	What string `json:"what"` // e.g. "changed on the host"
}

func (*DriftRequest) Type() Type { return "drift" }
func (*DriftReply) Type() Type   { return "drift_ok" }
