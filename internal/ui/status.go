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
		state, attempt := statusText(h, color)
		items[i] = item{h, Safe(state), Safe(attempt)}
	}
	groups := GroupBy(items, func(it item) string { return it.h.Host }, func(it item) string {
		if verbose {
			return it.h.Host
		}
		plainState, plainAttempt := statusText(it.h, false)
		return plainState + "\x00" + Normalize(plainAttempt, it.h.Host)
	})
	labels := make([]string, len(groups))
	width := 0
	for i, g := range groups {
		labels[i] = CompactHosts(g.Hosts)
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

// statusText is what status says of a host, without its name: its state
// line, and how its last attempt ended when that did not deploy ("" when
// there is nothing to say), for printers that lay hosts out themselves.
func statusText(h diff.HostStatus, color bool) (state, attempt string) {
	if h.Attempt != nil {
		attempt = attemptLine(h.Attempt, color)
	}
	return statusLine(h, color), attempt
}

func statusLine(h diff.HostStatus, color bool) string {
	line := statusState(h, color)
	if !h.PinnedAt.IsZero() {
		line += "; " + paint("pinned at "+h.PinnedAt.String()[:7], yellow, color) + ": deploys leave it alone"
	}
	return line
}

// attemptLine says how the host's last attempt ended, under its line.
func attemptLine(a *diff.Attempt, color bool) string {
	line := paint(fmt.Sprintf("last attempt %s at %s: %s", a.Commit.String()[:12], a.Time.Format("2006-01-02 15:04 -0700"), a.Outcome), red, color)
	if a.Why != "" {
		line += ": " + a.Why
	}
	return line
}

func statusState(h diff.HostStatus, color bool) string {
	if h.Unverified != "" {
		return paint("record not verified: "+SafeLine(h.Unverified), red, color) + "; run 'deptool sync --limit " + h.Host + "'"
	}
	what := "new host"
	switch {
	case !h.Unknown.IsZero():
		what = fmt.Sprintf("deployed from another store: commit %s unknown here; run sync", h.Unknown.String()[:12])
	case !h.New:
		what = fmt.Sprintf("deployed %s by %s, commit %s", h.Deployed.Format("2006-01-02 15:04 -0700"), SafeLine(h.Operator), h.Commit.String()[:12])
		if h.Source != "" {
			what += ", source " + SafeLine(shortSource(h.Source))
		}
	}
	switch {
	case h.Untracked:
		return what + "; no longer in the config tree, left alone"
	case len(h.Undeployed) > 0:
		return what + "; " + paint("undeployed changes: "+strings.Join(h.Undeployed, ", "), yellow, color)
	case h.New:
		return what + "; no apps yet"
	}
	return what + "; up to date"
}

// shortSource abbreviates a source commit as log does its store commits,
// keeping a "-dirty" mark.
func shortSource(src string) string {
	id, dirty := strings.CutSuffix(src, "-dirty")
	if len(id) > 12 {
		id = id[:12]
	}
	if dirty {
		id += "-dirty"
	}
	return id
}
