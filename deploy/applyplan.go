package deploy

import (
	"fmt"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
)

// The words of the planner's model and the protocol's are spelled alike
// today, but each may change alone: these tables are where they meet.
var (
	wireActions = map[diff.Action]wire.Action{diff.Add: wire.Add, diff.Update: wire.Update, diff.Remove: wire.Remove}
	wireLinkOps = map[diff.LinkOp]wire.LinkOp{diff.Link: wire.Link, diff.Unlink: wire.Unlink}
	wireUnitOps = map[diff.UnitOp]wire.UnitOp{
		diff.Stop: wire.Stop, diff.Disable: wire.Disable, diff.UnlinkUnit: wire.UnlinkUnit, diff.LinkUnit: wire.LinkUnit,
		diff.Enable: wire.Enable, diff.Restart: wire.Restart, diff.Reload: wire.Reload,
	}
)

// ApplyPlan is the part of a host's plan its agent needs to apply it, in
// the protocol's terms. It leaves out what only the operator shows (a
// host's or app's old tree, whether a host is new, files' ids, modes and
// ownership: the agent reads those from the store). An operation it has
// no word for is an error: the planner and the protocol disagree.
func ApplyPlan(hp diff.HostPlan) (wire.Plan, error) {
	p := wire.Plan{
		Host: hp.Host, Base: hp.Base, To: hp.To,
		Sysusers: hp.Sysusers, DaemonReload: hp.DaemonReload, Rollback: hp.Rollback,
	}
	var bad []string
	word := func(what string, ok bool, op any) {
		if !ok {
			bad = append(bad, fmt.Sprintf("%s %q", what, op))
		}
	}
	for _, ap := range hp.Apps {
		action, ok := wireActions[ap.Action]
		word("app action", ok, ap.Action)
		a := wire.AppPlan{App: ap.App, Action: action, To: ap.To, Validate: ap.Validate}
		for _, f := range ap.Files {
			op, ok := wireActions[f.Op]
			word("file change", ok, f.Op)
			a.Files = append(a.Files, wire.FileChange{Op: op, Path: f.Path})
		}
		for _, st := range ap.Symlinks {
			op, ok := wireLinkOps[st.Op]
			word("link op", ok, st.Op)
			a.Symlinks = append(a.Symlinks, wire.SymlinkStep{Op: op, Path: st.Path, Target: st.Target})
		}
		links := func(steps []diff.LinkStep) []wire.LinkStep {
			var out []wire.LinkStep
			for _, st := range steps {
				op, ok := wireLinkOps[st.Op]
				word("link op", ok, st.Op)
				out = append(out, wire.LinkStep{Op: op, Name: st.Name})
			}
			return out
		}
		a.Sysusers, a.Quadlets = links(ap.Sysusers), links(ap.Quadlets)
		for _, st := range ap.Units {
			op, ok := wireUnitOps[st.Op]
			word("unit op", ok, st.Op)
			a.Units = append(a.Units, wire.UnitStep{Op: op, Unit: st.Unit, External: st.External})
		}
		for _, c := range ap.Checks {
			a.Checks = append(a.Checks, wire.Check(c))
		}
		p.Apps = append(p.Apps, a)
	}
	if len(bad) > 0 {
		return wire.Plan{}, fmt.Errorf("the plan has words the agent protocol lacks (%v): this deptool's planner and agent disagree; report it as a bug", bad)
	}
	return p, nil
}
