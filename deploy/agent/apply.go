package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/deptool/deptool/deploy/secret"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// apply executes a plan and answers with its result. Once it starts it
// runs to the end: the operator going away only stops progress reports.
func (s *session) apply(req *wire.ApplyRequest) error {
	if refuse := s.mayChange(); refuse != nil {
		return s.conn.Send(refuse)
	}
	a, refuse := s.newApplier(req)
	if refuse != nil {
		return s.conn.Send(refuse)
	}
	defer a.close()
	res := a.run()
	return s.conn.Send(&res)
}

// applier carries one apply from checks to journal.
type applier struct {
	l     layout
	hs    *hostStore
	st    *store.Store
	now   func() time.Time
	keep  int
	exe   func() (string, error)
	fault func(Effect) error
	after func(time.Duration) <-chan time.Time
	say   func(wire.Progress)
	// await tells the operator the apply waits for confirmation.
	await func(wire.AwaitConfirm)
	// doing records in the lock file what the apply does now.
	doing func(doing string, until time.Time, token string)
	req   *wire.ApplyRequest
	plan  *diff.HostPlan
	from  store.ID            // current before the apply
	apps  map[string]store.ID // the commit's apps by name
	// fromApps are the apps of the current commit by name: what the host
	// store says the host runs, whatever the links say; nil when the host
	// store cannot tell.
	fromApps map[string]store.ID
	att      *Attempt

	// ctx is for systemd calls: an apply, once started, finishes even if
	// the operator goes away, so it is never cancelled.
	ctx     context.Context
	open    openUnits
	sd      units  // connected on first use
	closeSD func() // closes sd
	reports []wire.UnitReport
	confirm *confirmation // the open wait for confirmation, if any
	probe   *prober
	checks  []wire.CheckReport
	// journalSince is when the apply began, or its rollback: a failed
	// unit's journal lines are shown from then on, so an excerpt holds
	// this deploy's lines only, and the one after a rollback only what
	// came after it.
	journalSince time.Time

	// What checkouts get (files.go): per app, and the secrets' plaintext
	// by blob, held in memory only until the checkout is written.
	accounts   *accounts
	meta       map[string]*appMeta
	plain      map[store.ID][]byte
	identities []age.Identity
	// redact knows every plaintext the session met (the session's own).
	redact *secret.Redactor
	// validation reports the validation commands run; runs counts them,
	// for unique unit names.
	validation []wire.ValidationReport
	runs       int
	// step is the last step the apply said it was at (see noteStep).
	step wire.Progress
}

// newApplier checks the request against the host's store. What it refuses
// was never attempted: no ref moves and no journal line is written.
func (s *session) newApplier(req *wire.ApplyRequest) (*applier, *wire.AgentError) {
	st, err := s.store.open(false)
	if err != nil {
		return nil, asAgentError(err)
	}
	if st == nil {
		return nil, wire.Errorf(wire.CodeMissing, "commit %s is not in the host's store (it has none yet): send its objects first", req.Commit)
	}
	r, err := s.store.refs()
	if err != nil {
		return nil, asAgentError(err)
	}
	s.knowRunningSecrets(st, r.current)
	a := &applier{
		l: s.l, hs: &s.store, st: st, now: s.opts.Now, keep: s.opts.Keep, exe: s.opts.executable, fault: s.opts.fault, after: s.opts.After,
		req: req, plan: &req.Plan, from: r.current, ctx: context.Background(), open: s.opts.Units, probe: newProber(), redact: s.redact,
		say:   func(p wire.Progress) { s.conn.Send(&p) }, // a lost operator must not stop the apply
		await: func(m wire.AwaitConfirm) { s.conn.Send(&m) },
		doing: func(doing string, until time.Time, token string) { s.doing(doing, req.Deploy, until, token) },
	}
	send := a.say
	a.say = func(p wire.Progress) { a.noteStep(p); send(p) }
	if a.req.Operator == "" {
		a.req.Operator = s.operator
	}
	if req.Keep > 0 {
		a.keep = req.Keep
	}
	if refuse := a.check(s.host); refuse != nil {
		return nil, refuse
	}
	if refuse := s.verifySigned(req, req.Plan.To); refuse != nil {
		return nil, refuse
	}
	return a, nil
}

// run applies the plan: repair, drift put back, checks, checkouts, symlinks, units,
// removals, the wait for confirmation, then refs, journal and garbage
// collection. A failure leaves
// target at the commit attempted and current where it was; when the plan
// asks for rollback, the attempt is undone first (see rollback).
func (a *applier) run() wire.Result {
	a.journalSince = a.now()
	if err := a.repair(); err != nil {
		return a.finish(fmt.Errorf("undo the last failed attempt: %w", err))
	}
	if err := a.reconcile(); err != nil {
		return a.finish(fmt.Errorf("nothing was changed on the host: put the apps back at the host store's current commit: %w", err))
	}
	if err := a.reestablish(); err != nil {
		return a.finish(fmt.Errorf("put back what the apps manage on the host, as the host store's current commit has it: %w", err))
	}
	if err := a.prepareFiles(); err != nil {
		return a.finish(err)
	}
	if err := a.preflight(); err != nil {
		return a.finish(err)
	}
	if a.changesUnits() {
		if _, err := a.systemd(); err != nil {
			return a.finish(fmt.Errorf("nothing was changed on the host: %w", err))
		}
	}
	a.doing(wire.Applying, time.Time{}, "")
	a.att = &Attempt{
		Operator: a.req.Operator, Deploy: a.req.Deploy,
		From: a.from, To: a.req.Commit, Started: a.now().UTC(),
	}
	if err := a.att.save(a.l); err != nil {
		return a.finish(err)
	}
	if err := a.hs.setRef(targetRef, a.req.Commit); err != nil {
		return a.finish(err)
	}
	err := a.execute()
	if err == nil {
		err = a.awaitConfirmation()
	}
	a.closeConfirmation()
	if err != nil {
		if isValidationError(err) {
			return a.refused(err)
		}
		if a.plan.Rollback {
			return a.rollback(err)
		}
		return a.finish(err)
	}
	return a.finish(a.hs.setRef(currentRef, a.req.Commit))
}

// rollback undoes the failed attempt, units included, so the host runs
// what current names again. current stays, target keeps naming the commit
// attempted, and the attempt is marked undone: the next apply has nothing
// to repair.
func (a *applier) rollback(cause error) wire.Result {
	cause = a.failure(cause) // at the step that failed, before the undo's
	a.say(wire.Progress{Step: "rollback", Detail: cause.Error()})
	a.journalSince = a.now()
	if err := a.undoAttempt(a.att); err != nil {
		return a.end(wire.RollbackFailed, cause, err)
	}
	return a.end(wire.RolledBack, cause, nil)
}

// execute runs the phases that change the host, in the plan's order, then
// the health checks, so a check that fails rolls back like a failed unit.
func (a *applier) execute() error {
	if err := a.validateApps(); err != nil {
		return err
	}
	for _, ap := range a.plan.Apps {
		if ap.Action != diff.Remove {
			if err := a.checkout(ap.App, ap.To); err != nil {
				return fmt.Errorf("app %s: checkout: %w", ap.App, err)
			}
		}
	}
	if err := a.symlinks(); err != nil {
		return err
	}
	if err := a.linkSysusers(); err != nil {
		return err
	}
	if err := a.fixOwners(); err != nil {
		return err
	}
	if err := a.stopUnits(); err != nil {
		return err
	}
	if err := a.linkUnits(); err != nil {
		return err
	}
	for _, ap := range a.plan.Apps {
		if ap.Action == diff.Remove {
			if err := a.removeApp(ap.App); err != nil {
				return fmt.Errorf("app %s: remove: %w", ap.App, err)
			}
		}
	}
	if err := a.startUnits(); err != nil {
		return err
	}
	return a.healthChecks()
}

// finish ends an apply deployed (err nil) or failed.
func (a *applier) finish(err error) wire.Result {
	if err != nil {
		return a.end(wire.Failed, err, nil)
	}
	return a.end(wire.Deployed, nil, nil)
}

// end records the outcome (attempt, journal) and, after a success,
// collects old checkouts. cause is why the apply failed, rerr why its
// rollback did.
func (a *applier) end(outcome wire.Outcome, cause, rerr error) wire.Result {
	res := wire.Result{Outcome: outcome, Units: a.reports, Checks: a.checks, Validation: a.validation}
	if cause != nil {
		res.Failure = a.failure(cause)
	}
	if rerr != nil {
		res.RollbackFailure = &wire.Failure{Code: wire.FailRollback, Step: "rollback", Message: rerr.Error()}
	}
	if a.att != nil {
		a.att.Outcome, a.att.Error = res.Outcome, res.Message()
		if serr := a.att.save(a.l); serr != nil {
			a.warn(serr)
		}
	}
	entry := JournalEntry{
		Time: a.now().UTC(), Operator: a.req.Operator, Deploy: a.req.Deploy,
		From: a.from, To: a.req.Commit, Outcome: res.Outcome, Error: res.Message(),
		RollbackError: res.RollbackFailure.Text(),
	}
	for _, u := range res.Units {
		if u.Failed {
			entry.FailedUnits = append(entry.FailedUnits, u.Unit)
		}
	}
	for _, c := range res.Checks {
		if !c.OK {
			entry.FailedChecks = append(entry.FailedChecks, c.App+": "+c.Check+": "+c.Error)
		}
	}
	if jerr := appendJournal(a.l, entry, a.redact); jerr != nil {
		a.warn(jerr)
	}
	if outcome == wire.Deployed {
		a.say(wire.Progress{Step: "gc"})
		res.Freed = a.gc()
	}
	if r, rerr := a.hs.refs(); rerr == nil {
		res.Current, res.Target = r.current, r.target
	}
	return res
}

// warn reports a problem that does not change the outcome.
func (a *applier) warn(err error) {
	a.say(wire.Progress{Step: "warning", Detail: err.Error()})
}

// repair undoes the last attempt when it failed or was cut short, so this
// apply starts from the host's last good state. Units of the old version
// that do not come back are reported, not fatal: that is how the host
// is now (a rollback failed, a file they need is gone), and refusing to go
// on would wedge it, when the apply that follows is what may fix it.
func (a *applier) repair() error {
	last, err := loadAttempt(a.l)
	if err != nil || !last.needsUndo() {
		return err
	}
	a.say(wire.Progress{Step: "repair", Detail: "undoing the unfinished attempt of " + last.To.String()[:12]})
	// The units judged here belong to the undone attempt, not to this
	// apply's result; a warning says what did not come back.
	n := len(a.reports)
	defer func() { a.reports = a.reports[:n] }()
	return a.undoAttemptAs(last, true)
}

// reconcile makes every app of the host store's current commit point its
// current link at that app's checkout, writing the checkout again when it
// is gone. The links are deptool's own, but anyone with root can change
// them; the store's current ref is the record, so an apply and its undo
// start from what it says, never from a link someone pointed elsewhere.
// What it fixes is not part of the attempt: undoing the attempt must not
// break it again.
func (a *applier) reconcile() error {
	for _, app := range slices.Sorted(maps.Keys(a.fromApps)) {
		if err := a.reconcileApp(app, a.fromApps[app]); err != nil {
			return fmt.Errorf("app %s: %w", app, err)
		}
	}
	return nil
}

func (a *applier) reconcileApp(app string, tree store.ID) error {
	appDir := a.l.appDir(app)
	name := tree.String()
	dir := filepath.Join(appDir, name)
	cur := readlink(filepath.Join(appDir, "current"))
	fi, err := os.Lstat(dir)
	if err == nil && fi.IsDir() && cur == name {
		return nil
	}
	what := "current was missing"
	if cur != "" {
		what = "current pointed at " + cur
	}
	a.say(wire.Progress{Step: "repair", App: app, Detail: what + ", not at the checkout of the host's current commit (" + name[:12] + ")"})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(appDir, 0o755); err != nil {
			return bare(err)
		}
		if err := a.restoreCheckout(app, appDir, dir, tree); err != nil {
			return err
		}
	case err != nil:
		return bare(err)
	case !fi.IsDir():
		return fmt.Errorf("%s is in the way and is not a checkout: remove it", dir)
	}
	return setSymlink(filepath.Join(appDir, "current"), name)
}

// check refuses a request the host cannot carry out as asked.
func (a *applier) check(host string) *wire.AgentError {
	p := a.plan
	if p.Host != host {
		return wire.Errorf(wire.CodeBadRequest, "the plan is for host %s", p.Host)
	}
	if p.Base != a.from {
		return staleError(p.Base, a.from)
	}
	info, err := a.st.CommitInfo(a.req.Commit)
	if err != nil {
		return wire.Errorf(wire.CodeMissing, "commit %s is not in the host's store: send its objects first", a.req.Commit)
	}
	if info.Tree != p.To {
		return wire.Errorf(wire.CodeBadRequest, "commit %s has tree %s, the plan wants %s", short(a.req.Commit), short(info.Tree), short(p.To))
	}
	if a.apps, err = appTrees(a.st, info.Tree); err != nil {
		return wire.Errorf(wire.CodeMissing, "%v", err)
	}
	a.fromApps = map[string]store.ID{}
	if !a.from.IsZero() {
		// A host store that lost the current commit is the store's
		// repair to make; meanwhile the links are all there is to go by.
		if from, err := a.st.CommitInfo(a.from); err == nil {
			if trees, err := appTrees(a.st, from.Tree); err == nil {
				a.fromApps = trees
			} else {
				a.fromApps = nil
			}
		} else {
			a.fromApps = nil
		}
	}
	if err := checkPlan(p, a.apps); err != nil {
		return wire.Errorf(wire.CodeBadRequest, "bad plan: %v", err)
	}
	return nil
}

// appTrees maps a host tree's apps to their tree ids.
func appTrees(st *store.Store, tree store.ID) (map[string]store.ID, error) {
	if tree == store.EmptyTree {
		return nil, nil // every app removed; the store need not hold it
	}
	entries, err := st.ReadTree(tree)
	if err != nil {
		return nil, err
	}
	apps := make(map[string]store.ID, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			apps[e.Name] = e.ID
		}
	}
	return apps, nil
}

// checkPlan makes sure the plan agrees with the commit and names only
// paths the agent may touch: it comes over the network, and the agent runs
// as root.
func checkPlan(p *diff.HostPlan, apps map[string]store.ID) error {
	var errs []error
	for _, ap := range p.Apps {
		if !validName(ap.App) || strings.HasPrefix(ap.App, ".") {
			errs = append(errs, fmt.Errorf("app name %q", ap.App))
			continue
		}
		tree, inCommit := apps[ap.App]
		switch {
		case ap.Action == diff.Remove && inCommit:
			errs = append(errs, fmt.Errorf("app %s is removed by the plan but in the commit", ap.App))
		case ap.Action != diff.Remove && tree != ap.To:
			errs = append(errs, fmt.Errorf("app %s: the plan wants tree %s, the commit has %s", ap.App, short(ap.To), short(tree)))
		}
		for _, step := range ap.Symlinks {
			if err := checkSymlinkStep(step); err != nil {
				errs = append(errs, fmt.Errorf("app %s: %w", ap.App, err))
			}
		}
		for _, step := range ap.Units {
			if err := checkUnitStep(step); err != nil {
				errs = append(errs, fmt.Errorf("app %s: %w", ap.App, err))
			}
		}
		for _, step := range ap.Sysusers {
			if err := checkLinkStep("sysusers", step); err != nil {
				errs = append(errs, fmt.Errorf("app %s: %w", ap.App, err))
			}
		}
		for _, step := range ap.Quadlets {
			if err := checkLinkStep("quadlets", step); err != nil {
				errs = append(errs, fmt.Errorf("app %s: %w", ap.App, err))
			}
		}
		for i, c := range ap.Checks {
			if err := c.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("app %s: checks[%d]: %w", ap.App, i, err))
			}
		}
		if err := checkValidate(ap.Validate); err != nil {
			errs = append(errs, fmt.Errorf("app %s: %w", ap.App, err))
		}
	}
	return errors.Join(errs...)
}
