package deploy

import (
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
)

// Outcome is how a deploy ended on one host.
type Outcome string

// Outcomes. Only Deployed moves the host's ref in the store.
const (
	Deployed       Outcome = "deployed"        // the host runs the new commit
	RolledBack     Outcome = "rolled back"     // the apply failed and the host is back on its old commit
	RollbackFailed Outcome = "rollback failed" // the apply failed and so did the rollback
	Failed         Outcome = "failed"          // the apply failed on the host
	Unreachable    Outcome = "unreachable"     // no connection, login or agent
	Busy           Outcome = "busy"            // another deploy holds the host's lock
	Stale          Outcome = "stale"           // the host is not where the plan started
	Skipped        Outcome = "skipped"         // never attempted
)

// HostResult is one host's outcome.
type HostResult struct {
	Host    string        `json:"host"`
	Outcome Outcome       `json:"outcome"`
	Commit  diff.ObjectID `json:"commit,omitzero"` // the host commit attempted; zero when skipped
	Error   string        `json:"error,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Units are the units the apply restarted or judged, as the host saw
	// them; a failed one carries its last journal lines.
	Units []wire.UnitReport `json:"units,omitempty"`
	// Checks are the health checks the host ran after its units settled.
	Checks []wire.CheckReport `json:"checks,omitempty"`
	// Validation are the validation commands the host ran before the
	// apply changed anything, with their output.
	Validation []wire.ValidationReport `json:"validation,omitempty"`
	// Freed is what the host's clean-up of old checkouts and agents freed.
	Freed int64 `json:"freed_bytes,omitempty"`
}

// Result is a whole deploy's outcome.
type Result struct {
	Deploy  diff.ObjectID `json:"deploy"`
	Hosts   []HostResult  `json:"hosts"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Phase names what a host is doing, for live progress.
type Phase string

// Phases a host goes through, in order.
const (
	Connecting Phase = "connecting"
	Uploading  Phase = "uploading agent"
	Locking    Phase = "locking"
	Sending    Phase = "sending objects"
	Applying   Phase = "applying"
	Confirming Phase = "confirming"
	Fetching   Phase = "fetching host state"
)

// Reporter receives progress. Calls come from many goroutines at once.
type Reporter interface {
	Phase(host string, p Phase, detail string)
	Done(r HostResult)
}

type noReporter struct{}

func (noReporter) Phase(string, Phase, string) {}
func (noReporter) Done(HostResult)             {}
