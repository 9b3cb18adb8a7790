package deploy

import (
	"fmt"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// Outcome is how a deploy ended on one host. Its spelling is the same in
// every output (text, 'deptool log', 'log --remote', JSON) and in the
// host's journal: two words with a space, "rolled back". It is the
// agent's type, whose four outcomes are the ones an apply can end with;
// the others are the operator's own.
type Outcome = wire.Outcome

// Outcomes. Only Deployed moves the host's ref in the store.
const (
	Deployed               = wire.Deployed       // the host runs the new commit
	RolledBack             = wire.RolledBack     // the apply failed and the host is back on its old commit
	RollbackFailed         = wire.RollbackFailed // the apply failed and so did the rollback
	Failed                 = wire.Failed         // the apply failed on the host
	Unreachable    Outcome = "unreachable"       // no connection, login or agent
	Busy           Outcome = "busy"              // another deploy holds the host's lock
	Stale          Outcome = "stale"             // the host is not where the plan started
	Skipped        Outcome = "skipped"           // never attempted
	// Abandoned: the operator stopped following the apply (a second
	// interrupt); the host finishes it on its own, and the next deploy
	// records how it ended.
	Abandoned Outcome = "abandoned"
	// Unknown: the operator lost the host after its apply started (a cut
	// link, a frozen host) and could not see how it ended. The host
	// finishes on its own; the next command that reaches it (deploy,
	// sync, check) records what its journal says in place of this.
	Unknown Outcome = "unknown"
)

// Outcomes lists every outcome, worst kept for last, in the order
// summaries count them.
var Outcomes = []Outcome{Deployed, RolledBack, RollbackFailed, Failed, Unreachable, Busy, Stale, Unknown, Abandoned, Skipped}

// HostResult is one host's outcome.
type HostResult struct {
	Host    string   `json:"host"`
	Outcome Outcome  `json:"outcome"`
	Commit  store.ID `json:"commit,omitzero"` // the host commit attempted; zero when skipped
	Error   string   `json:"error,omitempty"` // why, without the host's name or the outcome
	// Detail says more about an outcome that is not a failure, such as
	// a deploy found on the host after its operator was interrupted.
	Detail  string        `json:"detail,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Units are the units the apply restarted or judged, as the host saw
	// them; a failed one carries its last journal lines.
	Units []UnitReport `json:"units,omitempty"`
	// Checks are the health checks the host ran after its units settled.
	Checks []CheckReport `json:"checks,omitempty"`
	// Validation are the validation commands the host ran before the
	// apply changed anything, with their output.
	Validation []ValidationReport `json:"validation,omitempty"`
	// Freed is what the host's clean-up of old checkouts and agents freed.
	Freed int64 `json:"freed_bytes,omitempty"`
}

// The reports of units, health checks and validation commands are the
// agent's, as it sends them: one definition for the wire, the outcomes
// note and the JSON events, whose golden tests pin their fields.
type (
	UnitReport       = wire.UnitReport
	CheckReport      = wire.CheckReport
	ValidationReport = wire.ValidationReport
)

// Result is a whole deploy's outcome.
type Result struct {
	Deploy  store.ID      `json:"deploy"`
	Hosts   []HostResult  `json:"hosts"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Source is the source-of-truth commit the tree came from, if known.
	Source string `json:"source,omitempty"`
}

// Count is how many hosts ended with each outcome.
func (r *Result) Count() map[Outcome]int {
	counts := map[Outcome]int{}
	for _, h := range r.Hosts {
		counts[h.Outcome]++
	}
	return counts
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
	Waiting    Phase = "waiting"
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

// Why names the failed units and checks behind an outcome, or else its
// error or detail: what 'deptool log' and 'status' say after the outcome.
func (r HostResult) Why() string {
	var failed []string
	for _, u := range r.Units {
		if u.Failed && !u.AfterRollback {
			failed = append(failed, u.Unit+": "+u.Reason)
		}
	}
	for _, c := range r.Checks {
		if !c.OK {
			failed = append(failed, fmt.Sprintf("app %s: check %s: %s", c.App, c.Check, c.Error))
		}
	}
	switch {
	case len(failed) > 0:
		return strings.Join(failed, "; ")
	case r.Error != "":
		return r.Error
	}
	return r.Detail
}
