package deploy

import "errors"

// Exit statuses of a deploy, as the CLI documents them. A deploy that
// never reached a host ends with ExitError, from the CLI.
const (
	ExitOK             = 0
	ExitError          = 1 // nothing was changed on any host
	ExitRolledBack     = 2 // some host was rolled back; none failed otherwise
	ExitHostFailed     = 3 // some host failed, was unreachable, busy or stale
	ExitRollbackFailed = 4 // some host failed and so did its rollback
)

// Exit ranks the result's outcomes into the deploy's exit status, and says
// why when it is not success. Hosts skipped because a rollout stopped take
// the code of the failure that stopped it; skipped hosts alone (an
// interrupted deploy) are a failure.
func (r *Result) Exit() (int, error) {
	worst, skipped := ExitOK, false
	for _, h := range r.Hosts {
		code := ExitHostFailed
		switch h.Outcome {
		case Deployed:
			code = ExitOK
		case Skipped:
			code, skipped = ExitOK, true
		case RolledBack:
			code = ExitRolledBack
		case RollbackFailed:
			code = ExitRollbackFailed
		}
		if severity(code) > severity(worst) {
			worst = code
		}
	}
	if worst == ExitOK && skipped {
		worst = ExitHostFailed // interrupted before every host was reached
	}
	switch worst {
	case ExitOK:
		return ExitOK, nil
	case ExitRolledBack:
		return worst, errors.New("some hosts were rolled back: they keep showing their changes in 'deptool diff'")
	case ExitRollbackFailed:
		return worst, errors.New("a rollback failed: check the hosts marked 'rollback failed' now")
	}
	return worst, errors.New("not every host was deployed: see above")
}

// severity orders exit codes: a failed rollback outranks a failure, which
// outranks a clean rollback.
func severity(code int) int {
	return map[int]int{ExitOK: 0, ExitRolledBack: 1, ExitHostFailed: 2, ExitRollbackFailed: 3}[code]
}
