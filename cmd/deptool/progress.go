package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/deptool/deptool/deploy"
)

// liveProgress redraws one line per host on a terminal as hosts move
// through their phases.
type liveProgress struct {
	mu    sync.Mutex
	w     io.Writer
	hosts []string
	state map[string]string
	drawn bool
}

func newLiveProgress(w io.Writer, hosts []string) *liveProgress {
	p := &liveProgress{w: w, hosts: hosts, state: map[string]string{}}
	for _, h := range hosts {
		p.state[h] = "waiting"
	}
	p.redraw()
	return p
}

func (p *liveProgress) Phase(host string, ph deploy.Phase, detail string) {
	p.set(host, strings.TrimSpace(string(ph)+" "+detail))
}

func (p *liveProgress) Done(r deploy.HostResult) {
	p.set(r.Host, fmt.Sprintf("%s (%s)", r.Outcome, r.Elapsed.Round(10*time.Millisecond)))
}

func (p *liveProgress) set(host, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state[host] = text
	p.redraw()
}

func (p *liveProgress) redraw() {
	var b strings.Builder
	if p.drawn {
		fmt.Fprintf(&b, "\x1b[%dA", len(p.hosts))
	}
	width := hostWidth(p.hosts)
	for _, h := range p.hosts {
		fmt.Fprintf(&b, "\x1b[2K%-*s  %s\n", width, h, p.state[h])
	}
	io.WriteString(p.w, b.String())
	p.drawn = true
}

// plainProgress prints one line per host when it is done: for logs and CI.
type plainProgress struct {
	mu    sync.Mutex
	w     io.Writer
	width int
}

// Phase prints only what a host is stuck waiting for: a log should say
// why a deploy takes minutes, and nothing more until the end.
func (p *plainProgress) Phase(host string, ph deploy.Phase, detail string) {
	if !strings.HasPrefix(detail, "waiting for ") {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%-*s  %s %s\n", p.width, host, ph, detail)
}

func (p *plainProgress) Done(r deploy.HostResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%-*s  %s (%s)\n", p.width, r.Host, r.Outcome, r.Elapsed.Round(10*time.Millisecond))
}

func hostWidth(hosts []string) int {
	return widthOf(hosts, func(h string) string { return h })
}

// widthOf is the width of the longest name among items, for aligned columns.
func widthOf[T any](items []T, name func(T) string) int {
	w := 0
	for _, it := range items {
		w = max(w, len(name(it)))
	}
	return w
}

func hostOf(r deploy.HostResult) string { return r.Host }

// printSummary prints every host's outcome, errors in full, and a count.
func printSummary(w io.Writer, res *deploy.Result) {
	hosts := append([]deploy.HostResult(nil), res.Hosts...)
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Host < hosts[j].Host })
	counts := map[deploy.Outcome]int{}
	for _, h := range hosts {
		counts[h.Outcome]++
	}
	width := widthOf(hosts, hostOf)
	fmt.Fprintln(w)
	for _, h := range hosts {
		line := fmt.Sprintf("%-*s  %s", width, h.Host, h.Outcome)
		if h.Error != "" {
			line += ": " + h.Error
		}
		fmt.Fprintln(w, line)
		printUnits(w, width, h.Units)
		printChecks(w, width, h.Checks)
	}
	var parts []string
	for _, o := range []deploy.Outcome{deploy.RolledBack, deploy.RollbackFailed, deploy.Failed, deploy.Unreachable, deploy.Busy, deploy.Stale, deploy.Skipped} {
		if counts[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
		}
	}
	tail := ""
	if len(parts) > 0 {
		tail = "; " + strings.Join(parts, ", ")
	}
	var freed int64
	for _, h := range hosts {
		freed += h.Freed
	}
	if freed > 0 {
		tail += fmt.Sprintf("; freed %.1f MB of old checkouts and agents on the hosts", float64(freed)/1e6)
	}
	fmt.Fprintf(w, "\nDeployed %d of %d hosts in %s%s.\n", counts[deploy.Deployed], len(hosts), res.Elapsed.Round(10*time.Millisecond), tail)
}

// printUnits shows one line per unit the host judged, and for a failed one
// its last journal lines, so the operator sees why without logging in.
func printUnits(w io.Writer, indent int, units []deploy.UnitReport) {
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
