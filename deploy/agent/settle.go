package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy/wire"
)

// settle watches units for window and reports each to the results; a unit
// that failed is an error naming it and why. It only watches: every
// change was made before it, forward or in a rollback (afterRollback).
func settle(e *env, sd units, window time.Duration, names []string, afterRollback bool) error {
	e.say(wire.Progress{Step: "settle", Detail: strings.Join(names, ", ")})
	ctx, cancel := context.WithTimeout(e.sd.ctx, window+e.sd.timeout)
	defer cancel()
	states, err := sd.Settle(ctx, names, window)
	var errs []error
	for _, s := range states {
		r := wire.UnitReport{Unit: s.Unit, State: s.ActiveState + " (" + s.SubState + ")", Since: s.Since,
			MainPID: s.MainPID, Failed: s.Failed, Reason: s.Reason, AfterRollback: afterRollback}
		if s.Failed {
			r.Journal = sd.JournalTail(s.Unit, journalLines, e.out.since)
			errs = append(errs, fmt.Errorf("unit %s failed: %s", s.Unit, s.Reason))
		}
		e.out.units = append(e.out.units, r)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("settle %s: %w", strings.Join(names, ", "), err))
	}
	return errors.Join(errs...)
}
