package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// env is what every step of one apply shares, and all a step may assume
// of the others: where the host's paths are, its store, the plan, systemd,
// the attempt's record, and where progress and results go. Whatever else
// a step needs it is given, and what it works out it returns or keeps in
// its own type.
type env struct {
	l    layout
	st   *store.Store
	plan *wire.Plan
	now  func() time.Time
	say  func(wire.Progress)
	sd   *sysd
	rec  *effectLog // nil until the attempt starts
	out  *results
}

// warn reports a problem that does not change the outcome.
func (e *env) warn(err error) {
	e.say(wire.Progress{Step: "warning", Detail: err.Error()})
}

// record adds an effect to the attempt before it is made.
func (e *env) record(ef Effect) error { return e.rec.record(ef) }

// effectLog keeps the attempt's record: each effect is saved before it is
// made, so an interrupted attempt is fully described (see Attempt).
type effectLog struct {
	l     layout
	att   *Attempt
	fault func(Effect) error // tests inject failures here
}

// record adds an effect to the attempt and saves it before the effect is
// made.
func (r *effectLog) record(e Effect) error {
	if r.fault != nil {
		if err := r.fault(e); err != nil {
			return err
		}
	}
	r.att.Effects = append(r.att.Effects, e)
	return r.att.save(r.l)
}

// results collects what an apply's result reports, as its steps add to
// it: the units watched, the health checks and the validations run.
type results struct {
	units      []wire.UnitReport
	checks     []wire.CheckReport
	validation []wire.ValidationReport
	// since is when the apply began, or its rollback: a failed unit's
	// journal lines are shown from then on, so an excerpt holds this
	// deploy's lines only, and the one after a rollback only what came
	// after it.
	since time.Time
	// step is the last step the apply said it was at: a failure names it
	// (see noteStep).
	step wire.Progress
}

// unitFailed reports a unit whose job failed, with its journal's end.
func (r *results) unitFailed(sd units, unit string, err error, afterRollback bool) {
	r.units = append(r.units, wire.UnitReport{Unit: unit, Failed: true, Reason: unitReason(err),
		Journal: sd.JournalTail(unit, journalLines, r.since), AfterRollback: afterRollback})
}

// sysd is the apply's systemd: connected on first use, as an apply that
// changes no unit needs no bus, and every call bounded by the unit
// timeout.
type sysd struct {
	open openUnits
	// ctx is for systemd calls: an apply, once started, finishes even if
	// the operator goes away, so it is never cancelled.
	ctx     context.Context
	timeout time.Duration
	say     func(wire.Progress)
	u       units
	closeFn func()
}

// get connects on first use.
func (s *sysd) get() (units, error) {
	if s.u != nil {
		return s.u, nil
	}
	u, closeFn, err := s.open(s.ctx)
	if err != nil {
		return nil, err
	}
	s.u, s.closeFn = u, closeFn
	return u, nil
}

func (s *sysd) close() {
	if s.closeFn != nil {
		s.closeFn()
	}
}

// When a systemd call is still waiting after waitReport, the operator is
// told what for, and again every waitReportEvery.
const (
	waitReport      = 5 * time.Second
	waitReportEvery = 15 * time.Second
)

// bounded runs one systemd call with the unit timeout as its deadline (a
// job that has none by then is killed, see systemd.ErrJobTimeout), and
// while it waits tells the operator what for.
func (s *sysd) bounded(what string, call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go s.reportWaiting(what, done)
	return call(ctx)
}

func (s *sysd) reportWaiting(what string, done <-chan struct{}) {
	step := waitReport
	for waited := waitReport; ; waited += waitReportEvery {
		t := time.NewTimer(step)
		select {
		case <-done:
			t.Stop()
			return
		case <-t.C:
		}
		s.say(wire.Progress{Step: "waiting", Detail: fmt.Sprintf("%s (%s so far, timeout %s)", what, waited, s.timeout)})
		step = waitReportEvery
	}
}

// reloadIfOutdated reloads systemd when changed (the apply enabled or
// disabled units) and systemd now marks every unit as changed on disk (newer
// versions do, until a daemon-reload). Older versions do not, and pay
// nothing but one property read.
func (s *sysd) reloadIfOutdated(changed bool) error {
	if !changed {
		return nil
	}
	sd, err := s.get()
	if err != nil {
		return err
	}
	outdated, err := sd.Outdated(s.ctx)
	if err != nil || !outdated {
		return err
	}
	s.say(wire.Progress{Step: "daemon-reload", Detail: "systemd marks every unit changed on disk after enable and disable"})
	return sd.Reload(s.ctx)
}
