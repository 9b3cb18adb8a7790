package ui

import (
	"fmt"
	"io"
	"strings"

	"github.com/deptool/deptool/deploy"
)

// PrintLog prints deploys, newest first: commit, time, operator, message,
// then the hosts grouped by outcome and reason up to host details, so a
// deploy to 10,000 hosts that all deployed is one line of hosts, and a
// reason shared by many is said once. verbose gives every host its line.
func PrintLog(w io.Writer, entries []deploy.Entry, verbose bool) {
	for i, e := range entries {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "commit %s  %s  %s\n", e.Commit.Short(), e.Time.Format("2006-01-02 15:04:05 -0700"), SafeLine(e.Operator))
		for _, line := range strings.Split(Safe(e.Message), "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
		if e.Unverified != "" {
			fmt.Fprintf(w, "    (not verified: %s; its outcomes are not shown)\n", Safe(e.Unverified))
			continue
		}
		if !e.Recorded {
			fmt.Fprintln(w, "    (no outcomes recorded: the deploy was interrupted before it finished)")
		}
		printOutcomes(w, e.Hosts, verbose)
	}
}

// printOutcomes prints hosts' outcomes in lines indented under a deploy,
// grouped unless verbose.
func printOutcomes(w io.Writer, hosts []deploy.HostResult, verbose bool) {
	groups := GroupBy(hosts, func(h deploy.HostResult) string { return h.Host }, func(h deploy.HostResult) string {
		if verbose {
			return h.Host
		}
		return string(h.Outcome) + "\x00" + Normalize(h.Why(), h.Host)
	})
	labels := make([]string, len(groups))
	width := 0
	for i, g := range groups {
		labels[i] = CompactHosts(g.Hosts)
		width = max(width, len(labels[i]))
	}
	width = min(width, 40)
	for i, g := range groups {
		line := fmt.Sprintf("%-*s  %s", width, labels[i], g.First.Outcome)
		if why := g.First.Why(); why != "" {
			line += ": " + Safe(why)
		}
		// A validation's output spans lines: keep them under the host.
		fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(line, "\n", "\n    "+strings.Repeat(" ", width+2)))
	}
}
