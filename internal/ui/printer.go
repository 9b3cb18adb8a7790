package ui

import (
	"fmt"
	"io"
	"strings"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// Printer is how a command shows what it found: as text for a person or,
// with --output json, as JSON events for a program (docs/json.md). A
// command hands it results and never lays them out, so the two forms say
// the same things and cmd/deptool holds no tables.
type Printer struct {
	w       io.Writer
	events  *Events // nil: text
	color   bool
	verbose bool
}

// NewPrinter prints to w, as JSON events when asJSON. color and verbose
// are for text: colour for a terminal, and a line per host where hosts
// that say the same thing would share one.
func NewPrinter(w io.Writer, asJSON, color, verbose bool) *Printer {
	p := &Printer{w: w, color: color, verbose: verbose}
	if asJSON {
		p.events = NewEvents(w)
	}
	return p
}

// Events is the JSON stream a deploy reports its progress to; nil for
// text, whose progress display is the terminal's.
func (p *Printer) Events() *Events { return p.events }

// Plan prints a plan: the "plan" event, or the plan in text.
func (p *Printer) Plan(plan *diff.Plan) error {
	if p.events != nil {
		return p.events.Emit("plan", plan)
	}
	return PrintPlan(p.w, plan, p.color)
}

// Summary closes a deploy: the "summary" event with the exit code, or
// the outcome of each host in text.
func (p *Printer) Summary(res *deploy.Result, code int) error {
	switch {
	case p.events != nil:
		return p.events.Summary(res, code)
	case p.verbose:
		PrintSummaryEach(p.w, res)
	default:
		PrintSummary(p.w, res)
	}
	return nil
}

// Status prints where each host stands, then, when the store has a
// remote, how the store compares with it.
func (p *Printer) Status(hosts []diff.HostStatus, remote *RemoteStatus) error {
	if p.events != nil {
		if err := each(p.events, "status", hosts); err != nil || remote == nil {
			return err
		}
		return p.events.Emit("remote", remote)
	}
	if err := PrintStatus(p.w, hosts, p.color, p.verbose); err != nil || remote == nil {
		return err
	}
	_, err := fmt.Fprintln(p.w, remote.Line())
	return err
}

// Check prints what check found on each host: "drift" events, or the
// hosts grouped, and what puts back the drift when there is some.
func (p *Printer) Check(results []deploy.CheckResult) error {
	if err := p.Drift(results); err != nil || p.events != nil {
		return err
	}
	for _, r := range results {
		if len(r.Drift) > 0 {
			fmt.Fprintln(p.w, "'deptool repair' puts back what drifted, on hosts at the version the store records for them.")
			break
		}
	}
	return nil
}

// Drift prints check's results without the advice to repair: what
// repair found before it repairs.
func (p *Printer) Drift(results []deploy.CheckResult) error {
	if p.events != nil {
		return each(p.events, "drift", results)
	}
	PrintCheckResults(p.w, results, p.verbose)
	return nil
}

// NothingToRepair says that repair found no drift; JSON says it by
// having no drift in its events.
func (p *Printer) NothingToRepair() error {
	if p.events != nil {
		return nil
	}
	fmt.Fprintln(p.w, "Nothing to repair: no host drifted from its recorded version.")
	return nil
}

// Log prints deploys from the store's history, newest first.
func (p *Printer) Log(entries []deploy.Entry) error {
	if p.events != nil {
		return each(p.events, "deploy", entries)
	}
	PrintLog(p.w, entries, p.verbose)
	return nil
}

// Journal prints a host's own journal of attempts, a line each.
func (p *Printer) Journal(entries []deploy.JournalEntry) error {
	if p.events != nil {
		return each(p.events, "journal", entries)
	}
	for _, e := range entries {
		fmt.Fprintf(p.w, "%s  %-15s  %s  deploy %s  %s\n", e.Time.Format("2006-01-02 15:04:05 -0700"), e.Outcome, SafeLine(e.Operator), e.Deploy.Short(), SafeLine(e.Error))
	}
	return nil
}

// Pings prints the hosts' round trips.
func (p *Printer) Pings(results []deploy.PingResult) error {
	if p.events != nil {
		return each(p.events, "ping", results)
	}
	PrintPings(p.w, results, p.verbose)
	return nil
}

// Syncs prints where sync found each host; onlyChanged leaves out, in
// text, the hosts whose ref did not move.
func (p *Printer) Syncs(results []deploy.SyncResult, onlyChanged bool) error {
	if p.events != nil {
		return each(p.events, "sync", results)
	}
	PrintSyncs(p.w, results, onlyChanged, p.verbose)
	return nil
}

// RemoteStatus is status's account of the store against its remote.
type RemoteStatus struct {
	URL     string `json:"url"`
	Reached bool   `json:"reached"`
	store.RemoteState
}

// Line says in one line how the store compares with its remote; offline,
// as of the last exchange.
func (r RemoteStatus) Line() string {
	when := "just now"
	if !r.Reached {
		when = "as of the last exchange (not reached now)"
	}
	if r.InStep() {
		return fmt.Sprintf("remote %s, %s: in step", r.URL, when)
	}
	line := fmt.Sprintf("remote %s, %s: this store's main is %d %s ahead, %d behind", r.URL, when, r.Ahead, plural(r.Ahead, "commit", "commits"), r.Behind)
	if r.Refs > 0 {
		line += fmt.Sprintf("; %d host %s", r.Refs, plural(r.Refs, "ref or pin differs", "refs or pins differ"))
	}
	return line
}

// PrintVersions lists the deploys rollback offers, newest first, each
// with how it went and the apps it changed (changed[i] for entries[i]),
// numbered for the question that follows.
func PrintVersions(w io.Writer, entries []deploy.Entry, changed [][]string) {
	fmt.Fprintln(w, "Deployed versions, newest first:")
	for i, e := range entries {
		mark := ""
		if i == 0 {
			mark = "  (current)"
		}
		fmt.Fprintf(w, "  %d) %s  %s  %s  %s%s\n", i+1, e.Commit.Short(), e.Time.Format("2006-01-02 15:04"), SafeLine(e.Operator), SafeLine(e.Subject()), mark)
		// How it went and what it changed: entries that read alike
		// otherwise, and the one that broke hosts, stand apart.
		line := e.Counts()
		if len(changed[i]) > 0 {
			line += "; changed " + strings.Join(changed[i], ", ")
		}
		fmt.Fprintf(w, "     %s\n", line)
	}
}
