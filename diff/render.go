package diff

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

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

// RenderPlan writes the plan in Deptool's style: per host, per app, the
// files and the actions, indented by four spaces per level, then whether a
// failed deploy rolls back. Colour marks + ~ - when color is set.
func RenderPlan(w io.Writer, p *Plan, color bool) error {
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
	for i := range p.Hosts {
		if i > 0 {
			b.WriteString("\n")
		}
		renderHost(&b, &p.Hosts[i], color)
		rollback = rollback && p.Hosts[i].Rollback
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

// renderRollout lists the stages of a staged rollout.
func renderRollout(b *strings.Builder, r *Rollout) {
	if r == nil {
		return
	}
	b.WriteString("\nRollout in stages; the first stage where a host does not deploy stops it:\n")
	for i, st := range r.Stages {
		fmt.Fprintf(b, "    %d. %s: %s\n", i+1, st.Name, strings.Join(st.Hosts, ", "))
	}
}

func renderHost(b *strings.Builder, h *HostPlan, color bool) {
	b.WriteString(h.Host + "\n")
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
func renderApp(b *strings.Builder, a *AppPlan, color bool) {
	fmt.Fprintf(b, "    %s %s\n", a.Action, a.App)
	line := func(s string) { b.WriteString("        " + s + "\n") }
	for _, f := range a.Files {
		line(fileLine(f, color))
	}
	for _, s := range a.Symlinks {
		if s.Op == Unlink {
			line("unlink " + show(s.Path))
		} else {
			line(fmt.Sprintf("link %s -> %s/current/%s", show(s.Path), a.App, show(s.Target)))
		}
	}
	for _, s := range a.Sysusers {
		line(fmt.Sprintf("%s sysusers %s", s.Op, show(s.Name)))
	}
	units := func(ops ...UnitOp) {
		for _, u := range a.Units {
			for _, op := range ops {
				if u.Op == op {
					line(fmt.Sprintf("%s unit %s", u.Op, show(u.Unit)))
				}
			}
		}
	}
	units(Stop, Disable, UnlinkUnit, LinkUnit)
	for _, q := range a.Quadlets {
		line(fmt.Sprintf("%s quadlet %s", q.Op, show(q.Name)))
	}
	units(Enable, Restart)
	for _, c := range a.Checks {
		line(fmt.Sprintf("check %s (%s)", show(c.String()), c.Duration()))
	}
}

func fileLine(f FileChange, color bool) string {
	sym, col := "~", yellow
	switch f.Op {
	case Add:
		sym, col = "+", green
	case Remove:
		sym, col = "-", red
	}
	s := sym + " " + show(f.Path)
	var notes []string
	if f.Secret {
		notes = append(notes, "secret")
	}
	if f.Attr != nil {
		notes = append(notes, f.Attr.String())
	} else if f.Op == Update && f.OldMode != f.NewMode {
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

func modeNote(m Mode) string {
	switch m {
	case Mode(store.ModeExecutable):
		return " (now executable)"
	case Mode(store.ModeFile):
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
