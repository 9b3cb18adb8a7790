package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/deptool/deptool/deploy/wire"
)

// unitStep is the apply's forward steps on units: stop and disable
// (phase 4), systemd-sysusers (phase 3), then daemon-reload, enable,
// restart and reload (phase 6). Each unit change is recorded before it
// is made; undoing them is unitRollback's. Watching the units settle is
// the settle step's.
type unitStep struct{ *env }

// stop stops, then disables the units the plan says to, across apps
// (phase 4).
func (u unitStep) stop() error {
	apps, names := planned(u.plan, wire.Stop)
	for i, unit := range names {
		sd, err := u.sd.get()
		if err != nil {
			return err
		}
		u.say(wire.Progress{Step: "stop", App: apps[i], Detail: unit})
		if err := u.record(Effect{Kind: EffectStop, App: apps[i], Unit: unit}); err != nil {
			return err
		}
		if err := u.sd.bounded("stop "+unit, func(ctx context.Context) error { return sd.Stop(ctx, unit) }); err != nil {
			return fmt.Errorf("app %s: stop %s: %w", apps[i], unit, err)
		}
	}
	apps, names = planned(u.plan, wire.Disable)
	if len(names) == 0 {
		return nil
	}
	sd, err := u.sd.get()
	if err != nil {
		return err
	}
	for i, unit := range names {
		u.say(wire.Progress{Step: "disable", App: apps[i], Detail: unit})
		if err := u.record(Effect{Kind: EffectDisable, App: apps[i], Unit: unit}); err != nil {
			return err
		}
	}
	if err := u.sd.bounded("disable", func(ctx context.Context) error { return sd.Disable(ctx, names) }); err != nil {
		return fmt.Errorf("disable %s: %w", strings.Join(names, ", "), err)
	}
	return nil
}

// sysusers runs systemd-sysusers when the plan says so (phase 3, once its
// files are linked).
func (u unitStep) sysusers() error {
	if !u.plan.Sysusers {
		return nil
	}
	sd, err := u.sd.get()
	if err != nil {
		return err
	}
	u.say(wire.Progress{Step: "sysusers"})
	return u.sd.bounded("systemd-sysusers", sd.Sysusers)
}

// start reloads systemd when the plan says so, enables, then restarts and
// reloads units across apps (phase 6), and returns the units to watch
// settle and whether any was reloaded.
func (u unitStep) start() (names []string, reloaded bool, err error) {
	if u.plan.DaemonReload {
		sd, err := u.sd.get()
		if err != nil {
			return nil, false, err
		}
		need, err := u.reloadNeeded(sd)
		if err != nil {
			return nil, false, err
		}
		if need {
			u.say(wire.Progress{Step: "daemon-reload"})
			if err := u.sd.bounded("daemon-reload", sd.Reload); err != nil {
				return nil, false, err
			}
		}
	}
	apps, enable := planned(u.plan, wire.Enable)
	if len(enable) > 0 {
		sd, err := u.sd.get()
		if err != nil {
			return nil, false, err
		}
		for i, unit := range enable {
			u.say(wire.Progress{Step: "enable", App: apps[i], Detail: unit})
			if err := u.record(Effect{Kind: EffectEnable, App: apps[i], Unit: unit}); err != nil {
				return nil, false, err
			}
		}
		if err := u.sd.bounded("enable", func(ctx context.Context) error { return sd.Enable(ctx, enable) }); err != nil {
			return nil, false, fmt.Errorf("enable %s: %w", strings.Join(enable, ", "), err)
		}
	}
	_, disabled := planned(u.plan, wire.Disable)
	if err := u.sd.reloadIfOutdated(len(enable) > 0 || len(disabled) > 0); err != nil {
		return nil, false, err
	}
	names, err = u.act()
	return names, plansReload(u.plan), err
}

// act restarts, then reloads the plan's units across apps, each
// unit once (a restart wins over a reload of the same unit), and returns
// the units to watch settle. Each is recorded before it is acted on, so a
// rollback acts on it again.
func (u unitStep) act() ([]string, error) {
	type step struct {
		app string
		st  wire.UnitStep
	}
	var steps []step
	seen := map[string]bool{}
	for _, op := range []wire.UnitOp{wire.Restart, wire.Reload} {
		for _, ap := range u.plan.Apps {
			for _, st := range ap.Units {
				if st.Op == op && !seen[st.Unit] {
					seen[st.Unit] = true
					steps = append(steps, step{ap.App, st})
				}
			}
		}
	}
	if len(steps) == 0 {
		return nil, nil
	}
	sd, err := u.sd.get()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range steps {
		kind, act := EffectRestart, sd.Restart
		if s.st.Op == wire.Reload {
			kind, act = EffectReload, sd.ReloadUnit
		}
		u.say(wire.Progress{Step: string(s.st.Op), App: s.app, Detail: s.st.Unit})
		if err := u.record(Effect{Kind: kind, App: s.app, Unit: s.st.Unit, External: s.st.External}); err != nil {
			return nil, err
		}
		if err := u.sd.bounded(string(s.st.Op)+" "+s.st.Unit, func(ctx context.Context) error { return act(ctx, s.st.Unit) }); err != nil {
			u.out.unitFailed(sd, s.st.Unit, err, false)
			return nil, fmt.Errorf("app %s: %w", s.app, err) // systemd names the job and the unit
		}
		names = append(names, s.st.Unit)
	}
	return names, nil
}

// reloadNeeded reports whether systemd must reload to see the plan's unit
// files. A reload re-reads every unit on the host, a third of a second of
// systemd's time on a small host and the largest part of a first deploy to
// many hosts. It is needed for anything systemd has already read: a unit
// or drop-in it holds, a removal, a quadlet (a generator makes its units).
// A unit systemd has never loaded it reads from disk the first time it is
// asked for, as the enable and restart that follow do.
func (u unitStep) reloadNeeded(sd units) (bool, error) {
	names, ok := newUnitFiles(*u.plan)
	if !ok {
		return true, nil
	}
	var loaded bool
	err := u.sd.bounded("the list of units", func(ctx context.Context) (err error) {
		loaded, err = sd.Loaded(ctx, names)
		return err
	})
	return loaded, err
}

// newUnitFiles lists the units whose files or drop-ins the plan only adds.
// It says false when the plan changes anything else under systemd/ or
// quadlets/, or touches a unit whose files systemd may read for others:
// templates and instances, and drop-ins for a whole type or prefix
// (service.d/, foo-.service.d/).
func newUnitFiles(hp wire.Plan) ([]string, bool) {
	var names []string
	for _, ap := range hp.Apps {
		for _, f := range ap.Files {
			dir, rest, _ := strings.Cut(f.Path, "/")
			switch {
			case dir == "quadlets":
				return nil, false
			case dir != "systemd":
				continue
			case f.Op != wire.Add:
				return nil, false
			}
			unit, _, _ := strings.Cut(rest, "/")
			unit = strings.TrimSuffix(unit, ".d")
			prefix, _, _ := strings.Cut(unit, ".")
			if prefix == "" || prefix == unit || strings.HasSuffix(prefix, "-") || strings.Contains(unit, "@") {
				return nil, false
			}
			names = append(names, unit)
		}
	}
	return names, true
}

// changesUnits reports whether the plan needs systemd.
func changesUnits(p *wire.Plan) bool {
	if p.DaemonReload || p.Sysusers {
		return true
	}
	for _, ap := range p.Apps {
		if len(ap.Units) > 0 || len(ap.Validate) > 0 { // validations run as transient units
			return true
		}
	}
	return false
}

// planned lists the plan's unit steps with op, across apps, in order.
func planned(p *wire.Plan, op wire.UnitOp) (apps, names []string) {
	for _, ap := range p.Apps {
		for _, st := range ap.Units {
			if st.Op == op {
				apps, names = append(apps, ap.App), append(names, st.Unit)
			}
		}
	}
	return apps, names
}

// plansReload reports whether the apply reloads any unit.
func plansReload(p *wire.Plan) bool {
	for _, ap := range p.Apps {
		for _, st := range ap.Units {
			if st.Op == wire.Reload {
				return true
			}
		}
	}
	return false
}
