package main

// Exit codes; exitCodesHelp documents them in every command's help and so in
// docs/cmd.
const (
	exitOK         = 0
	exitFailure    = 1 // nothing was changed on any host
	exitHostFailed = 3 // some host failed, was unreachable, busy or stale
)

const exitCodesHelp = `Exit status:
  0  success: every targeted host is on the new commit, or there was nothing to do
  1  error before anything changed on any host: bad input, an invalid config
     tree, a missing store, a cancelled confirmation
  3  deploy: at least one host did not end on the new commit (failed,
     unreachable, locked by another deploy, or its plan was stale); the
     hosts that did are recorded as deployed`

// exitError carries an exit code other than exitFailure up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
