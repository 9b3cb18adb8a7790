package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy/systemd"
	"github.com/deptool/deptool/deploy/wire"
	hostlayout "github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/store"
)

// This file holds the agent's side of units that follow an app's files:
// restarts and reloads (the app's own enabled units, and units of the host
// it names in systemd.restart and systemd.reload), acting on those again
// when a rollback puts the old files back, and the validation commands run
// in a new checkout before anything changes.

// defaultValidateTimeout bounds a validation command when the request
// does not say.
const defaultValidateTimeout = 30 * time.Second

// validateOutputMax is how much of a validation command's output the
// result carries: its end, where the reason usually is.
const validateOutputMax = 8 << 10

// ValidationError is a validation command that failed: the apply changed
// nothing and is refused.
type ValidationError struct {
	App     string
	Command []string
	Err     error
	Output  string
}

func (e *ValidationError) Error() string {
	msg := fmt.Sprintf("app %s: validate %s: %v; nothing was changed", e.App, strings.Join(e.Command, " "), e.Err)
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += ":\n    " + strings.ReplaceAll(out, "\n", "\n    ")
	}
	return msg
}

func (e *ValidationError) Unwrap() error { return e.Err }

// validateStep runs the plan's validation commands, each as a transient
// unit in the app's new checkout, and reports them to the results.
type validateStep struct {
	*env
	files   *fileStep     // writes the checkouts the commands run in
	timeout time.Duration // per command; zero for the default
	runs    int           // counts the commands run, for unique unit names
}

// validateApps runs each added or updated app's validation commands in its
// new checkout, written for them but not yet current, before any other
// change. A command that fails leaves the host as it was: the checkouts
// written for the validations are removed again.
func (v *validateStep) validateApps() error {
	var written []string // checkout directories written here
	for _, ap := range v.plan.Apps {
		if ap.Action == wire.Remove || len(ap.Validate) == 0 {
			continue
		}
		name, wrote, err := v.files.prepareCheckout(ap.App, store.ID(ap.To))
		if err != nil {
			return fmt.Errorf("app %s: checkout: %w", ap.App, err)
		}
		dir := filepath.Join(v.l.appDir(ap.App), name)
		if wrote {
			written = append(written, dir)
		}
		for _, argv := range ap.Validate {
			if err := v.validate(ap.App, dir, argv); err != nil {
				for _, d := range written {
					os.RemoveAll(d) // never current: current has not moved
				}
				return err
			}
		}
	}
	return nil
}

// validate runs one command in dir as a transient unit and reports it.
func (v *validateStep) validate(app, dir string, argv []string) error {
	rep := wire.ValidationReport{App: app, Command: argv}
	err := v.runValidation(app, dir, argv, &rep.Output)
	rep.OK = err == nil
	if err != nil {
		rep.Error = err.Error()
	}
	v.out.validation = append(v.out.validation, rep)
	if err != nil {
		return &ValidationError{App: app, Command: argv, Err: err, Output: rep.Output}
	}
	return nil
}

func (v *validateStep) runValidation(app, dir string, argv []string, output *string) error {
	sd, err := v.sd.get()
	if err != nil {
		return err
	}
	v.say(wire.Progress{Step: "validate", App: app, Detail: strings.Join(argv, " ")})
	f, err := os.CreateTemp(v.l.host(hostlayout.StateDir), ".validate-*.log")
	if err != nil {
		return fmt.Errorf("create its output file: %w", bare(err))
	}
	out := f.Name()
	f.Close()
	defer os.Remove(out)
	timeout := v.timeout
	if timeout <= 0 {
		timeout = defaultValidateTimeout
	}
	v.runs++
	unit := fmt.Sprintf("deptool-validate-%s-%d-%d.service", unitEscape(app), os.Getpid(), v.runs)
	err = sd.Run(v.sd.ctx, unit, systemd.Command{Argv: argv, Dir: dir, Env: []string{"DEPTOOL_CHECKOUT=" + dir}, Output: out, Timeout: timeout})
	*output = tail(out, validateOutputMax)
	return err
}

// tail reads the last max bytes of a file.
func tail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		f.Seek(fi.Size()-max, io.SeekStart)
	}
	data, _ := io.ReadAll(io.LimitReader(f, max))
	return strings.TrimRight(string(data), "\n")
}

// unitEscape keeps the characters a unit name may hold and replaces the
// rest.
func unitEscape(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// refused ends an apply whose validation failed: nothing but a checkout
// was written, and that is undone. It counts as rolled back: the host runs
// what it ran, and the change stays pending.
func (a *applier) refused(cause error) wire.Result {
	if err := undo(a.l, a.rec.att); err != nil {
		return a.end(wire.RollbackFailed, cause, err)
	}
	return a.end(wire.RolledBack, cause, nil)
}

// checkValidate refuses validation commands the planner would not have
// made: the plan comes over the network, and the agent runs them as root.
func checkValidate(argvs [][]string) error {
	for i, argv := range argvs {
		if len(argv) == 0 || !filepath.IsAbs(argv[0]) || filepath.Clean(argv[0]) != argv[0] {
			return fmt.Errorf("validate[%d]: want a command whose program is an absolute, clean path", i)
		}
		for _, a := range argv {
			if strings.ContainsRune(a, 0) {
				return fmt.Errorf("validate[%d]: an argument holds a NUL byte", i)
			}
		}
	}
	return nil
}

// isValidationError reports whether err is a failed validation.
func isValidationError(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve)
}
