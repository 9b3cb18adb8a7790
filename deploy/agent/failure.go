package agent

import (
	"errors"

	"github.com/deptool/deptool/deploy/wire"
)

// noteStep keeps the step an apply says it is at, which a failure names.
// Warnings, waits and clean-up are not steps of their own.
func (r *results) noteStep(p wire.Progress) {
	switch p.Step {
	case "warning", "waiting", "gc":
		return
	}
	r.step = p
}

// failure is cause typed for the operator: what failed (a unit, a health
// check, a validation command, the confirmation, or some other step), and
// where. The units, checks and validation commands the apply reported say
// which one failed; the message is cause's own.
func (a *applier) failure(cause error) *wire.Failure {
	if f := (*wire.Failure)(nil); errors.As(cause, &f) {
		return f // typed already, before a rollback said steps of its own
	}
	f := &wire.Failure{Code: wire.FailStep, Step: a.out.step.Step, App: a.out.step.App, Message: cause.Error()}
	var nc *NotConfirmedError
	var ve *ValidationError
	switch {
	case errors.As(cause, &nc):
		f.Code = wire.FailUnconfirmed
	case errors.As(cause, &ve):
		f.Code, f.App = wire.FailValidation, ve.App
	default:
		for _, u := range a.out.units {
			if u.Failed && !u.AfterRollback {
				f.Code, f.Unit = wire.FailUnit, u.Unit
				return f
			}
		}
		for _, c := range a.out.checks {
			if !c.OK {
				f.Code, f.App = wire.FailCheck, c.App
				return f
			}
		}
	}
	return f
}
