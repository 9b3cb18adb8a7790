package ui

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff"
)

// outcomeOrder is the order of the summary: what worked, then what did
// not, the worst last, just above the count.
var outcomeOrder = []deploy.Outcome{deploy.Deployed, deploy.Skipped, deploy.Abandoned, deploy.Unknown, deploy.Busy, deploy.Stale, deploy.Unreachable, deploy.Failed, deploy.RolledBack, deploy.RollbackFailed}

// entry is one line of the summary: hosts with the same outcome and the
// same thing to say about it.
type entry struct {
	outcome deploy.Outcome
	msg     string
	hosts   []string
	detail  *deploy.HostResult // units and checks, for an entry of one host
}

// groupAbove is the number of hosts above which the summary groups them:
// a summary of a few hosts reads best as a line per host.
const groupAbove = 10

// PrintSummary prints the deploy's outcome by host, and for more than
// groupAbove hosts grouped by outcome: hosts that ended alike share a
// line ("web01..web37 (37 hosts)  deployed"), a host with units or checks
// to show gets its own, with them beneath. A count closes it.
func PrintSummary(w io.Writer, res *deploy.Result) {
	entries := summaryEntries(res.Hosts, len(res.Hosts) > groupAbove)
	// The outcomes line up after the labels, unless a long list of hosts
	// would push every line, and every unit line under it, far right:
	// such a label overflows the column instead.
	width, longest := 0, 32
	for _, e := range entries {
		width = max(width, len(diff.CompactHosts(e.hosts)))
		for _, h := range e.hosts {
			longest = max(longest, len(h))
		}
	}
	width = min(width, longest)
	fmt.Fprintln(w)
	for _, e := range entries {
		line := fmt.Sprintf("%-*s  %s", width, diff.CompactHosts(e.hosts), e.outcome)
		if e.msg != "" {
			line += ": " + e.msg
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		if e.detail != nil {
			PrintUnits(w, width, e.detail.Units)
			PrintChecks(w, width, e.detail.Checks)
		}
	}
	fmt.Fprintf(w, "\n%s.\n", countLine(res))
}

func summaryEntries(hosts []deploy.HostResult, group bool) []entry {
	sorted := slices.Clone(hosts)
	slices.SortFunc(sorted, func(a, b deploy.HostResult) int { return strings.Compare(a.Host, b.Host) })
	type key struct {
		o   deploy.Outcome
		msg string
	}
	grouped := map[key]int{}
	var entries []entry
	for i := range sorted {
		h := &sorted[i]
		msg := Message(*h)
		// A deployed host's units are all fine; shown only when it is
		// alone. A host that failed keeps its own, with their journal.
		alone := !group || h.Outcome != deploy.Deployed && (len(h.Units) > 0 || len(h.Checks) > 0)
		if !alone {
			k := key{h.Outcome, msg}
			if at, ok := grouped[k]; ok {
				entries[at].hosts = append(entries[at].hosts, h.Host)
				entries[at].detail = nil
				continue
			}
			grouped[k] = len(entries)
		}
		entries = append(entries, entry{outcome: h.Outcome, msg: msg, hosts: []string{h.Host}, detail: h})
	}
	if group {
		slices.SortStableFunc(entries, func(a, b entry) int {
			return slices.Index(outcomeOrder, a.outcome) - slices.Index(outcomeOrder, b.outcome)
		})
	}
	return entries
}

func countLine(res *deploy.Result) string {
	counts := map[deploy.Outcome]int{}
	var freed int64
	for _, h := range res.Hosts {
		counts[h.Outcome]++
		freed += h.Freed
	}
	var parts []string
	for _, o := range deploy.Outcomes {
		if o != deploy.Deployed && counts[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
		}
	}
	tail := ""
	if len(parts) > 0 {
		tail = "; " + strings.Join(parts, ", ")
	}
	if freed > 0 {
		tail += fmt.Sprintf("; freed %.1f MB of old checkouts and agents on the hosts", float64(freed)/1e6)
	}
	return fmt.Sprintf("Deployed %d of %d hosts in %s%s", counts[deploy.Deployed], len(res.Hosts), res.Elapsed.Round(10*time.Millisecond), tail)
}

// Message is what a line says after a host's outcome: its error, or for
// a deploy found on the host, the detail. Neither repeats the host or the
// outcome, which the line shows already.
func Message(h deploy.HostResult) string {
	if h.Error != "" {
		return h.Error
	}
	return h.Detail
}

// PrintUnits shows one line per unit the host judged, and for a failed one
// its last journal lines, so the operator sees why without logging in.
func PrintUnits(w io.Writer, indent int, units []deploy.UnitReport) {
	pad := strings.Repeat(" ", indent+2)
	for _, u := range units {
		line := pad + u.Unit
		if u.State != "" {
			line += ": " + u.State
		}
		if !u.Since.IsZero() {
			line += " since " + u.Since.Format("15:04:05")
		}
		if u.MainPID != 0 {
			line += fmt.Sprintf(", main PID %d", u.MainPID)
		}
		if u.AfterRollback {
			line += " (after rollback)"
		}
		if u.Failed {
			line += "; FAILED: " + u.Reason
		}
		fmt.Fprintln(w, line)
		for _, j := range u.Journal {
			fmt.Fprintf(w, "%s  | %s\n", pad, j)
		}
	}
}

// PrintChecks shows one line per health check the host ran, under its unit
// lines, so a rollback caused by a check names it and its last error.
func PrintChecks(w io.Writer, indent int, checks []deploy.CheckReport) {
	pad := strings.Repeat(" ", indent+2)
	for _, c := range checks {
		word := "attempts"
		if c.Attempts == 1 {
			word = "attempt"
		}
		tries := fmt.Sprintf("%d %s in %s", c.Attempts, word, c.Elapsed.Round(10*time.Millisecond))
		if c.OK {
			fmt.Fprintf(w, "%s%s: check %s: ok (%s)\n", pad, c.App, c.Check, tries)
			continue
		}
		fmt.Fprintf(w, "%s%s: check %s: FAILED after %s: %s\n", pad, c.App, c.Check, tries, c.Error)
	}
}
