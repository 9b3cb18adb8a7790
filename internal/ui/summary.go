package ui

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy"
)

// outcomeOrder is the order of the summary: what worked, then what did
// not, the worst last, just above the count.
var outcomeOrder = []deploy.Outcome{deploy.Deployed, deploy.Skipped, deploy.Abandoned, deploy.Unknown, deploy.Busy, deploy.Stale, deploy.Unreachable, deploy.Failed, deploy.RolledBack, deploy.RollbackFailed}

// entry is one line of the summary: hosts with the same outcome and the
// same thing to say about it, up to host-specific details.
type entry struct {
	outcome deploy.Outcome
	msg     string
	hosts   []string
	detail  *deploy.HostResult // units and checks, of the first host
}

// groupAbove is the number of hosts above which the summary groups the
// hosts that deployed: a summary of a few hosts reads best as a line per
// host, with its units. Hosts that did not deploy group at any size when
// they failed alike, so five identical rollbacks are one entry.
const groupAbove = 10

// PrintSummary prints the deploy's outcome by host, grouped: hosts that
// failed alike (the same reason, units and checks up to hashes, names,
// PIDs and times) share an entry with one example of the detail, and for
// more than groupAbove hosts the hosts that deployed share a line
// ("web01..web37 (37 hosts)  deployed"). A count closes it.
func PrintSummary(w io.Writer, res *deploy.Result) {
	printSummary(w, res, summaryEntries(res.Hosts, len(res.Hosts) > groupAbove), journalBrief)
}

// PrintSummaryEach is PrintSummary with an entry for every host, each
// with its own units and checks: --verbose.
func PrintSummaryEach(w io.Writer, res *deploy.Result) {
	printSummary(w, res, eachEntry(res.Hosts), 0)
}

func printSummary(w io.Writer, res *deploy.Result, entries []entry, journal int) {
	// The outcomes line up after the labels, unless a long list of hosts
	// would push every line, and every unit line under it, far right:
	// such a label overflows the column instead.
	width, longest := 0, 32
	for _, e := range entries {
		width = max(width, len(CompactHosts(e.hosts)))
		for _, h := range e.hosts {
			longest = max(longest, len(h))
		}
	}
	width = min(width, longest)
	fmt.Fprintln(w)
	pad := "\n" + strings.Repeat(" ", width+2)
	for _, e := range entries {
		line := fmt.Sprintf("%-*s  %s", width, CompactHosts(e.hosts), e.outcome)
		if e.msg != "" {
			// A validation's output spans lines: keep them in the column.
			line += ": " + strings.ReplaceAll(Safe(e.msg), "\n", pad)
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		if e.detail == nil || len(e.detail.Units)+len(e.detail.Checks) == 0 {
			continue
		}
		if len(e.hosts) > 1 {
			fmt.Fprintf(w, "%*s  as on %s:\n", width, "", e.detail.Host)
		}
		printUnits(w, width, e.detail.Units, journal)
		PrintChecks(w, width, e.detail.Checks)
	}
	fmt.Fprintf(w, "\n%s.\n", countLine(res))
}

func sortedHosts(hosts []deploy.HostResult) []deploy.HostResult {
	sorted := slices.Clone(hosts)
	slices.SortFunc(sorted, func(a, b deploy.HostResult) int { return strings.Compare(a.Host, b.Host) })
	return sorted
}

func eachEntry(hosts []deploy.HostResult) []entry {
	var entries []entry
	for _, h := range sortedHosts(hosts) {
		entries = append(entries, entry{outcome: h.Outcome, msg: Message(h), hosts: []string{h.Host}, detail: &h})
	}
	return entries
}

func summaryEntries(hosts []deploy.HostResult, group bool) []entry {
	sorted := sortedHosts(hosts)
	// A deployed host's units are all fine: in a large fleet its line
	// joins the others', units unshown; in a small one it keeps them.
	groups := GroupBy(sorted, func(h deploy.HostResult) string { return h.Host }, func(h deploy.HostResult) string {
		if h.Outcome == deploy.Deployed {
			if !group {
				return "\x00" + h.Host
			}
			return string(h.Outcome)
		}
		return resultKey(h)
	})
	var entries []entry
	for _, g := range groups {
		e := entry{outcome: g.First.Outcome, msg: Message(g.First), hosts: g.Hosts, detail: &g.First}
		if group && e.outcome == deploy.Deployed {
			e.detail = nil
		}
		entries = append(entries, e)
	}
	if group {
		slices.SortStableFunc(entries, func(a, b entry) int { return outcomeRank(a.outcome) - outcomeRank(b.outcome) })
	}
	return entries
}

// outcomeRank places an outcome in the summary; one this file does not
// know sits with the failures, above the rollbacks.
func outcomeRank(o deploy.Outcome) int {
	if i := slices.Index(outcomeOrder, o); i >= 0 {
		return i
	}
	return slices.Index(outcomeOrder, deploy.Failed)
}

// resultKey is what two hosts' results must share to be one entry: the
// outcome, and the reason, units and checks in normal form.
func resultKey(h deploy.HostResult) string {
	var b strings.Builder
	b.WriteString(string(h.Outcome) + "\x00" + Normalize(Message(h), h.Host))
	for _, u := range h.Units {
		fmt.Fprintf(&b, "\x00%s|%s|%t|%s|%t|%t", u.Unit, Normalize(u.State, h.Host), u.Failed, Normalize(u.Reason, h.Host), u.AfterRollback, u.MainPID != 0)
		for _, j := range u.Journal {
			b.WriteString("\x01" + Normalize(j, h.Host))
		}
	}
	for _, c := range h.Checks {
		fmt.Fprintf(&b, "\x00%s|%s|%t|%s", c.App, c.Check, c.OK, Normalize(c.Error, h.Host))
	}
	return b.String()
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
		tail += "; freed " + bytesText(freed) + " of old checkouts and agents on the hosts"
	}
	return fmt.Sprintf("Deployed %d of %d hosts in %s%s", counts[deploy.Deployed], len(res.Hosts), res.Elapsed.Round(10*time.Millisecond), tail)
}

// bytesText is a size in the unit that shows it best: a clean-up of a few
// kilobytes is not "0.0 MB".
func bytesText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%d kB", n/1000)
	}
	return fmt.Sprintf("%d bytes", n)
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

// journalBrief is how many journal lines of a unit a grouped entry shows:
// the last ones, where the error usually is; --verbose shows all.
const journalBrief = 6

// printUnits shows one line per unit the host judged, and for a failed one
// at most its last most journal lines (0: all), so the operator sees why
// without logging in. A unit seen again after the rollback shows only
// journal lines not shown above it: the excerpt after a rollback mostly
// repeats the one before.
func printUnits(w io.Writer, indent int, units []deploy.UnitReport, most int) {
	pad := strings.Repeat(" ", indent+2)
	shown := map[string]bool{}
	for _, u := range units {
		line := pad + SafeLine(u.Unit)
		if u.State != "" {
			line += ": " + SafeLine(u.State)
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
			line += "; FAILED: " + SafeLine(u.Reason)
		}
		fmt.Fprintln(w, line)
		var fresh []string
		for _, j := range u.Journal {
			if !shown[u.Unit+"\x00"+j] {
				shown[u.Unit+"\x00"+j] = true
				fresh = append(fresh, j)
			}
		}
		if most > 0 && len(fresh) > most {
			fmt.Fprintf(w, "%s  | (%d earlier lines: --verbose shows them)\n", pad, len(fresh)-most)
			fresh = fresh[len(fresh)-most:]
		}
		for _, j := range fresh {
			fmt.Fprintf(w, "%s  | %s\n", pad, SafeLine(j))
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
			fmt.Fprintf(w, "%s%s: check %s: ok (%s)\n", pad, c.App, SafeLine(c.Check), tries)
			continue
		}
		fmt.Fprintf(w, "%s%s: check %s: FAILED after %s: %s\n", pad, c.App, SafeLine(c.Check), tries, SafeLine(c.Error))
	}
}
