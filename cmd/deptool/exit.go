package main

import "github.com/deptool/deptool/deploy"

// Exit codes are package deploy's; exitCodesHelp documents them in every
// command's help and so in docs/cmd.
const (
	exitFailure    = deploy.ExitError
	exitHostFailed = deploy.ExitHostFailed
)

const exitCodesHelp = `Exit status:
  0  success: every targeted host is on the new commit, or there was nothing to do
  1  error before anything changed on any host: bad input, an invalid config
     tree, a missing store, a cancelled confirmation
  2  deploy: at least one host was rolled back automatically (a failed unit
     or health check, or no confirmation over a new connection) and is on
     its old commit; every other host deployed or was skipped because of it.
     Any command: an unknown command or help topic
  3  deploy: at least one host did not end on the new commit (failed,
     unreachable, locked by another deploy, its plan was stale, or skipped
     by an interrupted deploy); the hosts that did are recorded as deployed.
     Also when hosts were contacted but the store could not record what
     happened (the summary says what did; run 'deptool sync')
  4  deploy: at least one host failed and its automatic rollback failed too:
     look at that host now
With --output json, the last event carries the same code.`

// exitError carries an exit code other than exitFailure up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
