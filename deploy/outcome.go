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
// host's journal: two words with a space, "rolled back".
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

// UnmarshalText reads an outcome, including the spellings of host
// journals written before one spelling was chosen ("rolled_back").
func (o *Outcome) UnmarshalText(b []byte) error {
	var w wire.Outcome
	if err := w.UnmarshalText(b); err != nil {
		return err
	}
	*o = Outcome(w)
	return nil
}

// fromWire is an agent's outcome as deploy's own.
func fromWire(o wire.Outcome) Outcome {
	switch o {
	case wire.Deployed:
		return Deployed
	case wire.RolledBack:
		return RolledBack
	case wire.RollbackFailed:
		return RollbackFailed
	}
	return Failed
}

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

// UnitReport is how one unit was doing when its host judged it.
type UnitReport struct {
	Unit    string    `json:"unit"`
	State   string    `json:"state,omitempty"` // e.g. "active (running)"
	Since   time.Time `json:"since,omitzero"`
	MainPID uint32    `json:"main_pid,omitempty"`
	Failed  bool      `json:"failed,omitempty"`
	Reason  string    `json:"reason,omitempty"` // why Failed
	// Journal is the unit's last journal lines, for a failed unit.
	Journal []string `json:"journal,omitempty"`
	// AfterRollback marks a unit as seen after the rollback restarted it.
	AfterRollback bool `json:"after_rollback,omitempty"`
}

// CheckReport is how one health check ended.
type CheckReport struct {
	App   string `json:"app"`
	Check string `json:"check"` // as diff.Check.String shows it
	OK    bool   `json:"ok"`
	// Error is the last attempt's error, for a check that never passed.
	Error    string        `json:"error,omitempty"`
	Attempts int           `json:"attempts"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// ValidationReport is how one of an app's validation commands ended.
type ValidationReport struct {
	App     string   `json:"app"`
	Command []string `json:"command"`
	OK      bool     `json:"ok"`
	Error   string   `json:"error,omitempty"`  // why not OK, such as "exit status 1"
	Output  string   `json:"output,omitempty"` // the end of what it wrote
}

func validationFromWire(in []wire.ValidationReport) []ValidationReport {
	var out []ValidationReport
	for _, v := range in {
		out = append(out, ValidationReport{App: v.App, Command: v.Command, OK: v.OK, Error: v.Error, Output: v.Output})
	}
	return out
}

func unitsFromWire(in []wire.UnitReport) []UnitReport {
	var out []UnitReport
	for _, u := range in {
		out = append(out, UnitReport{Unit: u.Unit, State: u.State, Since: u.Since, MainPID: u.MainPID,
			Failed: u.Failed, Reason: u.Reason, Journal: u.Journal, AfterRollback: u.AfterRollback})
	}
	return out
}

func checksFromWire(in []wire.CheckReport) []CheckReport {
	var out []CheckReport
	for _, c := range in {
		out = append(out, CheckReport{App: c.App, Check: c.Check, OK: c.OK, Error: c.Error, Attempts: c.Attempts, Elapsed: c.Elapsed})
	}
	return out
}

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
