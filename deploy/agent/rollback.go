package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy/systemd"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// unitRollback puts the host back where an attempt started: the units it
// started that the old version does not run are stopped (and disabled if
// it enabled them) while their files are still there; the files go back
// (undo); then systemd reloads, the units it disabled are enabled again,
// and every unit it touched that the old version runs restarts (or
// reloads, as the way forward did) and is watched, with the units outside
// the apps it restarted or reloaded. An attempt that touched no unit needs
// no systemd.
type unitRollback struct {
	*env
	att    *Attempt
	window time.Duration // the settle window
	// repair: units that fail to stop or come back are warnings, and the
	// attempt counts undone once its files are.
	repair bool
}

// run undoes the attempt and marks it undone.
func (r *unitRollback) run() error {
	ue := effectsOnUnits(r.att)
	if len(ue.touched) == 0 && !ue.reload && len(ue.follow) == 0 {
		return undo(r.l, r.att)
	}
	sd, err := r.sd.get()
	if err != nil {
		// Put the files back all the same: that much does not need it.
		return errors.Join(err, undoFiles(r.l, r.att))
	}
	before, err := enabledAt(r.st, r.att.From)
	if err != nil {
		return fmt.Errorf("units the host ran before: %w", err)
	}
	errs := r.stopNew(sd, ue, before)
	if err := undoFiles(r.l, r.att); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if len(ue.touched) > 0 || ue.reload { // what follows only reads files
		r.say(wire.Progress{Step: "daemon-reload"})
		if err := r.sd.bounded("daemon-reload", sd.Reload); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	started, serrs := r.startOld(sd, ue, before)
	errs = append(errs, serrs...)
	if len(started) > 0 {
		if err := settle(r.env, sd, r.window, started, true); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		if !r.repair {
			return err
		}
		r.warn(fmt.Errorf("the units of the version before do not all run again (the apply goes on; it restarts the units it changes): %w", err))
	}
	r.att.Undone = true
	return r.att.save(r.l)
}

// stopNew stops the units the attempt started that the version before
// does not run, and disables those it enabled, while their files are
// still there.
func (r *unitRollback) stopNew(sd units, ue unitEffects, before map[appUnit]bool) []error {
	var errs []error
	var disable []string
	for _, au := range ue.touched {
		if before[au] || !(ue.enabled[au] || ue.restarted[au] || ue.reloaded[au]) {
			continue
		}
		if _, err := os.Lstat(r.l.host(path.Join(unitDir, au.unit))); err != nil {
			continue // its file is gone: systemd knows nothing to stop
		}
		if !isTemplate(au.unit) {
			r.say(wire.Progress{Step: "stop", App: au.app, Detail: au.unit})
			err := r.sd.bounded("stop "+au.unit, func(ctx context.Context) error { return sd.Stop(ctx, au.unit) })
			switch {
			case errors.Is(err, systemd.ErrJobTimeout):
				// Its processes are killed: it runs no more, which is what
				// the stop was for.
				r.warn(err)
			case err != nil:
				errs = append(errs, fmt.Errorf("stop %s: %w", au.unit, err))
			}
		}
		if ue.enabled[au] {
			disable = append(disable, au.unit)
		}
	}
	if len(disable) > 0 {
		r.say(wire.Progress{Step: "disable", Detail: strings.Join(disable, ", ")})
		if err := r.sd.bounded("disable", func(ctx context.Context) error { return sd.Disable(ctx, disable) }); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// startOld enables again the units of the version before that the
// attempt disabled, and restarts (or reloads) those it touched, then the
// units outside the apps it followed. It returns the units to watch
// settle.
func (r *unitRollback) startOld(sd units, ue unitEffects, before map[appUnit]bool) ([]string, []error) {
	var errs []error
	var enable, restart []string
	reloadOnly := map[string]bool{}
	for _, au := range ue.touched {
		if !before[au] {
			continue
		}
		if ue.disabled[au] {
			enable = append(enable, au.unit)
		}
		if !isTemplate(au.unit) && !slices.Contains(restart, au.unit) {
			restart = append(restart, au.unit)
			reloadOnly[au.unit] = ue.reloaded[au] && !ue.restarted[au]
		}
	}
	if len(enable) > 0 {
		r.say(wire.Progress{Step: "enable", Detail: strings.Join(enable, ", ")})
		if err := r.sd.bounded("enable", func(ctx context.Context) error { return sd.Enable(ctx, enable) }); err != nil {
			errs = append(errs, err)
		}
		if err := r.sd.reloadIfOutdated(true); err != nil {
			errs = append(errs, err)
		}
	}
	var started []string
	for _, u := range restart {
		ok, err := r.actAgain(sd, "", u, reloadOnly[u]) // as the way forward did
		if ok {
			started = append(started, u)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	followed, ferrs := r.followBack(sd, ue.follow, restart)
	return append(started, followed...), append(errs, ferrs...)
}

// followBack acts again, after a rollback put the old files back, on the
// units outside the apps that the attempt restarted or reloaded: they read
// the files that changed back. Each once, a restart winning over a reload;
// skip are the units restarted already. It returns the units to watch
// settle.
func (r *unitRollback) followBack(sd units, follow []Effect, skip []string) ([]string, []error) {
	restart := map[string]bool{}
	for _, e := range follow {
		if e.Kind == EffectRestart {
			restart[e.Unit] = true
		}
	}
	done := map[string]bool{}
	for _, u := range skip {
		done[u] = true
	}
	var started []string
	var errs []error
	for _, e := range follow {
		if done[e.Unit] || (e.Kind == EffectReload && restart[e.Unit]) {
			continue
		}
		done[e.Unit] = true
		reload := e.Kind == EffectReload
		ok, err := r.actAgain(sd, e.App, e.Unit, reload)
		if ok {
			started = append(started, e.Unit)
		}
		if err != nil {
			verb := "restart"
			if reload {
				verb = "reload"
			}
			errs = append(errs, fmt.Errorf("%s %s: %w", verb, e.Unit, err))
		}
	}
	return started, errs
}

// actAgain restarts unit u, or reloads it, and says whether it is to be
// watched settle. A job that timed out was killed: whether the old
// version now runs is for the settle to judge. A unit whose job failed is
// reported, with its journal.
func (r *unitRollback) actAgain(sd units, app, u string, reload bool) (bool, error) {
	verb, act := "restart", sd.Restart
	if reload {
		verb, act = "reload", sd.ReloadUnit
	}
	r.say(wire.Progress{Step: verb, App: app, Detail: u})
	err := r.sd.bounded(verb+" "+u, func(ctx context.Context) error { return act(ctx, u) })
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, systemd.ErrJobTimeout):
		// The failed version's stop (an endless ExecStop=) held the job
		// up and was killed.
		r.warn(err)
		return true, nil
	case reload && r.runsDespiteReload(sd, u, err):
		return true, nil
	}
	r.out.unitFailed(sd, u, err, true)
	return false, err
}

// runsDespiteReload says whether unit u, whose reload in an undo failed,
// runs all the same, and then warns. Its ExecReload= fails on the old
// config as it did on the new: the forward reload that failed never took
// the new config, so a unit that runs, runs the config put back, and the
// host is rolled back; the settle that follows judges it as any other.
func (r *unitRollback) runsDespiteReload(sd units, u string, err error) bool {
	var running bool
	serr := r.sd.bounded("the state of "+u, func(ctx context.Context) error {
		st, err := sd.Status(ctx, u)
		running = st.Running()
		return err
	})
	if serr != nil || !running {
		return false
	}
	r.warn(fmt.Errorf("reload %s failed again in the rollback (%v); it runs, on the config it ran before the attempt, which is back on disk", u, err))
	return true
}

// appUnit is a unit of an app.
type appUnit struct{ app, unit string }

// unitEffects sums up an attempt's unit effects: the units it touched, in
// order of first touch, and which it enabled, disabled and restarted.
type unitEffects struct {
	touched                      []appUnit
	enabled, disabled, restarted map[appUnit]bool
	// reloaded are the app's own units reloaded (or started) instead of
	// restarted; follow the restarts and reloads of units outside the
	// apps, in order.
	reloaded map[appUnit]bool
	follow   []Effect
	// reload: a quadlet link changed, so systemd's generator must run.
	reload bool
}

func effectsOnUnits(att *Attempt) unitEffects {
	ue := unitEffects{enabled: map[appUnit]bool{}, disabled: map[appUnit]bool{}, restarted: map[appUnit]bool{}, reloaded: map[appUnit]bool{}}
	seen := map[appUnit]bool{}
	for _, e := range att.Effects {
		var au appUnit
		switch e.Kind {
		case EffectStop, EffectDisable, EffectEnable, EffectRestart, EffectReload:
			if e.External {
				ue.follow = append(ue.follow, e)
				continue
			}
			au = appUnit{e.App, e.Unit}
		case EffectLink, EffectUnlink:
			if strings.HasPrefix(e.Path, quadletDir+"/") {
				ue.reload = true
			}
			name, ok := strings.CutPrefix(e.Path, unitDir+"/")
			if !ok {
				continue
			}
			au = appUnit{e.App, unitOf(name)}
		default:
			continue
		}
		switch e.Kind {
		case EffectEnable:
			ue.enabled[au] = true
		case EffectDisable:
			ue.disabled[au] = true
		case EffectRestart:
			ue.restarted[au] = true
		case EffectReload:
			ue.reloaded[au] = true
		}
		if !seen[au] {
			seen[au] = true
			ue.touched = append(ue.touched, au)
		}
	}
	return ue
}

// enabledAt is the units each app enabled in a host commit's manifests:
// what the host runs when that commit is current. The zero id is a host
// without apps.
func enabledAt(st *store.Store, commit store.ID) (map[appUnit]bool, error) {
	out := map[appUnit]bool{}
	if commit == store.ZeroID {
		return out, nil
	}
	info, err := st.CommitInfo(commit)
	if err != nil {
		return nil, err
	}
	trees, err := appTrees(st, info.Tree)
	if err != nil {
		return nil, err
	}
	for app, tree := range trees {
		e, err := lookupFile(st, tree, diff.ManifestName)
		if err != nil {
			continue // no manifest: nothing enabled
		}
		data, err := st.ReadBlob(e.ID)
		if err != nil {
			return nil, err
		}
		m, err := diff.ParseManifest(app+"/"+diff.ManifestName, data)
		if err != nil {
			return nil, err
		}
		for _, u := range m.Systemd.UnitsEnabled {
			out[appUnit{app, u}] = true
		}
	}
	return out, nil
}
