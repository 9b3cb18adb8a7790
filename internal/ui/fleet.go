package ui

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy"
)

// hostLine is one host's line of a day-2 command before grouping: what it
// says, and the key it groups by (what it says up to host details).
type hostLine struct {
	host, text, key string
	// brief is the text for a group of hosts, without what names one
	// host only (its host commit); "" when the same as text.
	brief string
	more  []string // lines under it
	// aloneMore shows more only for a host alone: for a group the brief
	// says enough (a healthy host's passed checks).
	aloneMore bool
}

// printGrouped prints lines grouped by key, the hosts' names compacted,
// each group's first line as the example; verbose prints each.
func printGrouped(w io.Writer, lines []hostLine, verbose bool) {
	groups := GroupBy(lines, func(l hostLine) string { return l.host }, func(l hostLine) string {
		if verbose {
			return "\x00" + l.host
		}
		return l.key
	})
	labels := make([]string, len(groups))
	width := 0
	for i, g := range groups {
		labels[i] = CompactHosts(g.Hosts)
		width = max(width, len(labels[i]))
	}
	width = min(width, 40)
	for i, g := range groups {
		text := g.First.text
		if len(g.Hosts) > 1 && g.First.brief != "" {
			text = g.First.brief
		}
		more := g.First.more
		if len(g.Hosts) > 1 && g.First.aloneMore {
			more = nil
		}
		if len(g.Hosts) > 1 && len(more) > 0 {
			text += " (as on " + g.First.host + ")"
		}
		fmt.Fprintf(w, "%-*s  %s\n", width, labels[i], text)
		for _, m := range more {
			fmt.Fprintf(w, "%*s  %s\n", width, "", m)
		}
	}
}

// PrintSyncs prints where sync found each host, hosts alike on one line,
// then a count. onlyChanged leaves out hosts whose ref did not move.
func PrintSyncs(w io.Writer, results []deploy.SyncResult, onlyChanged, verbose bool) {
	var lines []hostLine
	counts := map[string]int{}
	for _, r := range results {
		l := hostLine{host: r.Host}
		switch {
		case r.Error != "":
			l.text, l.key = "error: "+SafeLine(r.Error), "error\x00"+Normalize(r.Error, r.Host)
			counts["could not be synced"]++
		case r.Current.IsZero():
			l.text, l.key = "never deployed", "never"
			counts["never deployed"]++
		case r.Changed():
			l.text, l.key, l.brief = "moved to "+r.Current.String()[:12], "moved", "moved"
			counts["moved"]++
		default:
			l.text, l.key, l.brief = "up to date at "+r.Current.String()[:12], "up to date", "up to date"
			counts["up to date"]++
		}
		if onlyChanged && (l.key == "never" || l.key == "up to date") {
			continue
		}
		lines = append(lines, l)
	}
	printGrouped(w, lines, verbose)
	fmt.Fprintf(w, "Synced %d %s: %s.\n", len(results), plural(len(results), "host", "hosts"),
		countText(counts, []string{"up to date", "moved", "never deployed", "could not be synced"}))
}

func countText(counts map[string]int, order []string) string {
	var parts []string
	for _, k := range order {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// PrintCheckResults prints drift and health checks: healthy hosts on one
// line in all, hosts with the same problems up to host details on one
// line with the first one's problems under it.
func PrintCheckResults(w io.Writer, results []deploy.CheckResult, verbose bool) {
	var lines []hostLine
	for _, r := range results {
		l := hostLine{host: r.Host}
		switch {
		case r.Error != "":
			l.text, l.key = "not checked: "+SafeLine(r.Error), "error\x00"+Normalize(r.Error, r.Host)
		case r.Current.IsZero() && len(r.Drift) == 0:
			l.text, l.key = "nothing deployed", "nothing"
		case r.OK():
			l.text, l.key, l.brief = "ok at "+r.Current.String()[:12], "ok", "ok"
			if n := len(r.Checks); n > 0 {
				l.brief = fmt.Sprintf("ok, %d health %s passed on each", n, plural(n, "check", "checks"))
				l.more, l.aloneMore = checkLines(r.Checks), true
				for _, c := range r.Checks {
					l.key += "\x00" + c.App + "\x00" + c.Check
				}
			}
		default:
			n := len(r.Drift)
			for _, c := range r.Checks {
				if !c.OK {
					n++
				}
			}
			l.brief = fmt.Sprintf("%d %s", n, plural(n, "problem", "problems"))
			l.text = l.brief + " at " + r.Current.Short()
			var key strings.Builder
			for _, d := range r.Drift {
				m := SafeLine(d.What)
				if d.App != "" {
					m = fmt.Sprintf("%s: %s %s: %s", SafeLine(d.App), d.Kind, SafeLine(d.Path), SafeLine(d.What))
				}
				l.more = append(l.more, m)
				key.WriteString("\x00" + Normalize(m, r.Host))
			}
			for _, c := range checkLines(r.Checks) {
				l.more = append(l.more, c)
				key.WriteString("\x00" + Normalize(checkKey(c), r.Host))
			}
			l.key = "problems" + key.String()
		}
		lines = append(lines, l)
	}
	printGrouped(w, lines, verbose)
}

// checkLines are PrintChecks' lines, unindented.
func checkLines(checks []deploy.CheckReport) []string {
	var b strings.Builder
	PrintChecks(&b, -2, checks)
	var out []string
	for _, c := range strings.Split(b.String(), "\n") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// checkKey is a check's line without its timing, which differs from host
// to host for the same result.
func checkKey(line string) string {
	if i := strings.Index(line, " attempt"); i >= 0 {
		if j := strings.Index(line[i:], ":"); j >= 0 {
			return line[:i] + line[i+j:]
		}
		return line[:i]
	}
	return line
}

// PrintPings prints the fleet's round trips as one distribution (min,
// p50, p95 of the hosts' medians, and of their connection set-ups),
// names the hosts far slower than the rest, and groups those that did
// not answer by reason. verbose prints a line per host.
func PrintPings(w io.Writer, results []deploy.PingResult, verbose bool) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
	if verbose {
		width := 0
		for _, r := range results {
			width = max(width, len(r.Host))
		}
		for _, r := range results {
			if r.Error != "" {
				fmt.Fprintf(w, "%-*s  error: %s\n", width, r.Host, SafeLine(r.Error))
				continue
			}
			fmt.Fprintf(w, "%-*s  connect %9s  min %8s  p50 %8s  p95 %8s  n %d\n", width, r.Host,
				ms(r.Connect), ms(r.Percentile(0)), ms(r.Percentile(50)), ms(r.Percentile(95)), len(r.RTTs))
		}
		return
	}
	var ok []deploy.PingResult
	var failed []hostLine
	for _, r := range results {
		if r.Error != "" {
			failed = append(failed, hostLine{host: r.Host, text: "error: " + SafeLine(r.Error), key: Normalize(r.Error, r.Host)})
			continue
		}
		ok = append(ok, r)
	}
	if len(ok) > 0 {
		connects := make([]time.Duration, len(ok))
		var rtts []time.Duration
		for i, r := range ok {
			connects[i] = r.Connect
			rtts = append(rtts, r.RTTs...)
		}
		dist := func(ds []time.Duration) string {
			s := slices.Clone(ds)
			slices.Sort(s)
			return fmt.Sprintf("min %s | p50 %s | p95 %s | max %s", ms(s[0]), ms(pct(s, 50)), ms(pct(s, 95)), ms(s[len(s)-1]))
		}
		fmt.Fprintf(w, "%d of %d %s answered, %d round trips\n", len(ok), len(results), plural(len(results), "host", "hosts"), len(rtts))
		fmt.Fprintf(w, "  connect     %s\n", dist(connects))
		fmt.Fprintf(w, "  round trip  %s\n", dist(rtts))
		if slow := outliers(ok); len(slow) > 0 {
			var names []string
			for _, r := range slow[:min(len(slow), 5)] {
				names = append(names, fmt.Sprintf("%s (p50 %s)", r.Host, ms(r.Percentile(50))))
			}
			more := ""
			if len(slow) > 5 {
				more = fmt.Sprintf(" and %d more (--verbose lists every host)", len(slow)-5)
			}
			fmt.Fprintf(w, "  slowest: %s%s\n", strings.Join(names, ", "), more)
		}
	}
	printGrouped(w, failed, false)
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100]
}

// outliers are the hosts whose median round trip is more than three
// times the fleet's median and above its p95, slowest first: a host
// worth a look, not the tail every fleet has.
func outliers(ok []deploy.PingResult) []deploy.PingResult {
	medians := make([]time.Duration, len(ok))
	for i, r := range ok {
		medians[i] = r.Percentile(50)
	}
	slices.Sort(medians)
	mid, p95 := pct(medians, 50), pct(medians, 95)
	var slow []deploy.PingResult
	for _, r := range ok {
		if m := r.Percentile(50); m > 3*mid && m >= p95 {
			slow = append(slow, r)
		}
	}
	slices.SortFunc(slow, func(a, b deploy.PingResult) int { return int(b.Percentile(50) - a.Percentile(50)) })
	return slow
}
