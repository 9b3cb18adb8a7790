package ui

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// ANSI colours; used only when the caller asks, which it does for a
// terminal without NO_COLOR.
const (
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	red    = "\x1b[31m"
	reset  = "\x1b[0m"
)

// Footers of a plan.
const (
	nothingToDeploy = "Nothing to deploy: every host is up to date."
	autoRollback    = "Auto-rollback if deploy fails."
	noRollback      = "No automatic rollback (--no-rollback)."
)

// PrintPlan writes the plan in Deptool's style: per host, per app, the
// files and the actions, indented by four spaces per level, then whether a
// failed deploy rolls back. Colour marks + ~ - when color is set.
func PrintPlan(w io.Writer, p *diff.Plan, color bool) error {
	var b strings.Builder
	for _, pin := range p.Pinned {
		fmt.Fprintf(&b, "%s: pinned at %s, %d %s differ\n", pin.Host, pin.At.String()[:7], pin.AppsDiffer, plural(pin.AppsDiffer, "app", "apps"))
	}
	if len(p.Pinned) > 0 {
		b.WriteString("\n")
	}
	if p.Empty() {
		b.WriteString(nothingToDeploy + "\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	rollback := true
	names := make([]string, len(p.Hosts))
	bodies := make([]string, len(p.Hosts))
	for i := range p.Hosts {
		var hb strings.Builder
		renderHostBody(&hb, &p.Hosts[i], color)
		names[i], bodies[i] = p.Hosts[i].Host, hb.String()
		rollback = rollback && p.Hosts[i].Rollback
	}
	for i, g := range groupHosts(names, bodies) {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(CompactHosts(g.hosts) + "\n" + g.body)
	}
	if len(p.Hosts) > 1 {
		b.WriteString("\n" + totalsOf(p).String() + "\n")
	}
	renderRollout(&b, p.Rollout)
	if rollback {
		b.WriteString("\n" + autoRollback + "\n")
	} else {
		b.WriteString("\n" + noRollback + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// renderRollout lists the stages of a staged rollout and its budget. Runs
// of stages of one size share a line, so a rollout in batches of two over
// a hundred hosts stays a few lines.
func renderRollout(b *strings.Builder, r *diff.Rollout) {
	if r == nil {
		return
	}
	switch {
	case r.MaxFail != "":
		fmt.Fprintf(b, "\nRollout in %d stages; it stops after the stage where more than %d %s not deployed (--max-fail %s)", len(r.Stages), r.Allowed, plural(r.Allowed, "host has", "hosts have"), r.MaxFail)
	default:
		fmt.Fprintf(b, "\nRollout in %d stages; the first stage where a host does not deploy stops it", len(r.Stages))
	}
	if r.MaxFail != "" && len(r.Stages) > 0 && r.Stages[0].Canary {
		b.WriteString("; a failed canary stops it at once")
	}
	b.WriteString(":\n")
	if len(r.Untouched) > 0 {
		fmt.Fprintf(b, "    canary %s selects no host this plan changes: no canary stage, the rollout starts with the next\n", strings.Join(r.Untouched, ", "))
	}
	for i := 0; i < len(r.Stages); {
		st := r.Stages[i]
		j := i + 1
		for !st.Canary && j < len(r.Stages) && len(r.Stages[j].Hosts) == len(st.Hosts) {
			j++
		}
		if j-i < 3 {
			for ; i < j; i++ {
				fmt.Fprintf(b, "    %d. %s: %s\n", i+1, r.Stages[i].Name, CompactHosts(r.Stages[i].Hosts))
			}
			continue
		}
		var hosts []string
		for _, s := range r.Stages[i:j] {
			hosts = append(hosts, s.Hosts...)
		}
		fmt.Fprintf(b, "    %d-%d. %d batches of %d: %s\n", i+1, j, j-i, len(st.Hosts), CompactHosts(hosts))
		i = j
	}
}

// renderHostBody writes what happens on a host, without its name, so
// hosts with the same body can share it.
func renderHostBody(b *strings.Builder, h *diff.HostPlan, color bool) {
	for i := range h.Apps {
		renderApp(b, &h.Apps[i], color)
	}
	if h.Sysusers {
		b.WriteString("    run systemd-sysusers\n")
	}
	if h.DaemonReload {
		b.WriteString("    daemon-reload\n")
	}
}

// renderApp writes an app's lines in the order the agent's phases run them.
func renderApp(b *strings.Builder, a *diff.AppPlan, color bool) {
	fmt.Fprintf(b, "    %s %s\n", a.Action, a.App)
	line := func(s string) { b.WriteString("        " + s + "\n") }
	for _, f := range a.Files {
		line(fileLine(f, color))
	}
	for _, s := range a.Symlinks {
		if s.Op == diff.Unlink {
			line("unlink " + show(s.Path))
		} else {
			line(fmt.Sprintf("link %s -> %s/current/%s", show(s.Path), a.App, show(s.Target)))
		}
	}
	for _, v := range a.Validate {
		line(validateLine(v))
	}
	for _, s := range a.Sysusers {
		line(fmt.Sprintf("%s sysusers %s", s.Op, show(s.Name)))
	}
	units := func(ops ...diff.UnitOp) {
		for _, u := range a.Units {
			for _, op := range ops {
				if u.Op == op {
					line(unitLine(u))
				}
			}
		}
	}
	units(diff.Stop, diff.Disable, diff.UnlinkUnit, diff.LinkUnit)
	for _, q := range a.Quadlets {
		line(fmt.Sprintf("%s quadlet %s", q.Op, show(q.Name)))
	}
	units(diff.Enable, diff.Restart, diff.Reload)
	for _, c := range a.Checks {
		line(fmt.Sprintf("check %s (%s)", show(c.String()), c.Duration()))
	}
}

// unitLine is a unit step as the plan shows it.
func unitLine(u diff.UnitStep) string {
	s := fmt.Sprintf("%s unit %s", u.Op, show(u.Unit))
	if u.External {
		s += " (follows the app)"
	}
	return s
}

// validateLine is a validation command as the plan shows it.
func validateLine(argv []string) string {
	shown := make([]string, len(argv))
	for i, a := range argv {
		shown[i] = show(a)
	}
	return "validate " + strings.Join(shown, " ")
}

func fileLine(f diff.FileChange, color bool) string {
	sym, col := "~", yellow
	switch f.Op {
	case diff.Add:
		sym, col = "+", green
	case diff.Remove:
		sym, col = "-", red
	}
	s := sym + " " + show(f.Path)
	var notes []string
	if f.Secret {
		notes = append(notes, "secret")
	}
	if f.Attr != nil {
		notes = append(notes, f.Attr.String())
	} else if f.Op == diff.Update && f.OldMode != f.NewMode {
		notes = append(notes, strings.TrimSuffix(strings.TrimPrefix(modeNote(f.NewMode), " ("), ")"))
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, ", ") + ")"
	}
	if color {
		s = col + s + reset
	}
	return s
}

func modeNote(m diff.Mode) string {
	switch m {
	case diff.Mode(store.ModeExecutable):
		return " (now executable)"
	case diff.Mode(store.ModeFile):
		return " (no longer executable)"
	}
	return " (now " + m.String() + ")"
}

// show quotes names that would break a line-oriented display.
func show(s string) string {
	if s == "" || strings.IndexFunc(s, unicode.IsControl) >= 0 || strings.TrimSpace(s) != s {
		return strconv.Quote(s)
	}
	return s
}
