package ui

import (
	"fmt"
	"io"
	"strings"

	"github.com/deptool/deptool/diff"
)

// PrintStatus prints each host's status, hosts that say the same thing
// on one line: the same deploy, the same undeployed apps, the same last
// attempt up to host details. A fleet deployed by one deploy is one line
// however large; verbose prints a line per host.
func PrintStatus(w io.Writer, hosts []diff.HostStatus, color, verbose bool) error {
	type item struct {
		h              diff.HostStatus
		state, attempt string
	}
	items := make([]item, len(hosts))
	for i, h := range hosts {
		state, attempt := diff.StatusText(h, color)
		items[i] = item{h, Safe(state), Safe(attempt)}
	}
	groups := GroupBy(items, func(it item) string { return it.h.Host }, func(it item) string {
		if verbose {
			return it.h.Host
		}
		plainState, plainAttempt := diff.StatusText(it.h, false)
		return plainState + "\x00" + Normalize(plainAttempt, it.h.Host)
	})
	labels := make([]string, len(groups))
	width := 0
	for i, g := range groups {
		labels[i] = diff.CompactHosts(g.Hosts)
		width = max(width, len(labels[i]))
	}
	width = min(width, 40)
	var b strings.Builder
	for i, g := range groups {
		fmt.Fprintf(&b, "%-*s  %s\n", width, labels[i], g.First.state)
		if g.First.attempt == "" {
			continue
		}
		attempt := g.First.attempt
		if len(g.Hosts) > 1 {
			attempt += " (as on " + g.First.h.Host + ")"
		}
		fmt.Fprintf(&b, "%-*s  %s\n", width, "", attempt)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
