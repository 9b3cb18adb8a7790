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

	"github.com/deptool/deptool/deploy/secret"
	"github.com/deptool/deptool/deploy/wire"
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
	defer a.sd.close()
	res := a.run()
	return s.conn.Send(&res)
}

// applier carries one apply from checks to journal: it runs the steps in
// order, each with what it needs, and turns their outcome into a Result.
type applier struct {
	*env
	hs    *hostStore
	fault func(Effect) error
	// doing records in the lock file what the apply does now.
	doing func(doing string, until time.Time, token string)
	req   *wire.ApplyRequest
	from  store.ID // current before the apply
	// redact knows every plaintext the session met: the journal line
	// goes through it.
	redact *secret.Redactor

	putBack  putBack
	files    *fileStep
	links    linkStep
	validate *validateStep
	units    unitStep
	confirm  *confirmStep
	checks   checkStep
	gc       gcStep
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
	if req.Operator == "" {
		req.Operator = s.operator
	}
	apps, fromApps, refuse := checkRequest(s.host, st, req, r.current)
	if refuse != nil {
		return nil, refuse
	}
	if refuse := s.verifySigned(req, req.Plan.To); refuse != nil {
		return nil, refuse
	}
	out := &results{}
	say := func(p wire.Progress) { out.noteStep(p); s.conn.Send(&p) } // a lost operator must not stop the apply
	timeout := req.UnitTimeout
	if timeout <= 0 {
		timeout = wire.DefaultUnitTimeout
	}
	e := &env{l: s.l, st: st, plan: &req.Plan, now: s.opts.Now, say: say, out: out,
		sd: &sysd{open: s.opts.Units, ctx: context.Background(), timeout: timeout, say: say}}
	sec := &secrets{l: s.l, st: st, plain: map[store.ID][]byte{}, redact: s.redact}
	files := &fileStep{env: e, apps: apps, fromApps: fromApps, secrets: sec}
	a := &applier{
		env: e, hs: &s.store, fault: s.opts.fault, req: req, from: r.current, redact: s.redact,
		doing:    func(doing string, until time.Time, token string) { s.doing(doing, req.Deploy, until, token) },
		putBack:  putBack{env: e, fromApps: fromApps, files: files},
		files:    files,
		links:    linkStep{env: e, apps: apps, secrets: sec},
		validate: &validateStep{env: e, files: files, timeout: req.ValidateTimeout},
		units:    unitStep{e},
		checks:   checkStep{env: e, probe: newProber()},
		gc:       gcStep{env: e, hs: &s.store, keep: s.opts.Keep, exe: s.opts.executable},
	}
	a.confirm = &confirmStep{l: s.l, now: s.opts.Now, after: s.opts.After, say: say, doing: a.doing,
		await: func(m wire.AwaitConfirm) { s.conn.Send(&m) }}
	if req.Plan.Rollback {
		a.confirm.timeout = req.ConfirmTimeout
	}
	if req.Keep > 0 {
		a.gc.keep = req.Keep
	}
	return a, nil
}

// run applies the plan: repair, drift put back, checks, checkouts, symlinks, units,
// removals, the wait for confirmation, then refs, journal and garbage
// collection. A failure leaves
// target at the commit attempted and current where it was; when the plan
// asks for rollback, the attempt is undone first (see rollback).
func (a *applier) run() wire.Result {
	a.out.since = a.now()
	if err := a.repair(); err != nil {
		return a.finish(fmt.Errorf("undo the last failed attempt: %w", err))
	}
	if err := a.putBack.reconcile(); err != nil {
		return a.finish(fmt.Errorf("nothing was changed on the host: put the apps back at the host store's current commit: %w", err))
	}
	if err := a.putBack.reestablish(); err != nil {
		return a.finish(fmt.Errorf("put back what the apps manage on the host, as the host store's current commit has it: %w", err))
	}
	if err := a.files.prepareFiles(); err != nil {
		return a.finish(err)
	}
	if err := a.links.preflight(); err != nil {
		return a.finish(err)
	}
	if changesUnits(a.plan) {
		if _, err := a.sd.get(); err != nil {
			return a.finish(fmt.Errorf("nothing was changed on the host: %w", err))
		}
	}
	a.doing(wire.Applying, time.Time{}, "")
	a.rec = &effectLog{l: a.l, fault: a.fault, att: &Attempt{
		Operator: a.req.Operator, Deploy: a.req.Deploy,
		From: a.from, To: a.req.Commit, Started: a.now().UTC(),
	}}
	if err := a.rec.att.save(a.l); err != nil {
		return a.finish(err)
	}
	if err := a.hs.setRef(targetRef, a.req.Commit); err != nil {
		return a.finish(err)
	}
	err := a.execute()
	if err == nil {
		err = a.confirm.wait()
	}
	a.confirm.close()
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
	a.out.since = a.now()
	rb := unitRollback{env: a.env, att: a.rec.att, window: a.req.Settle}
	if err := rb.run(); err != nil {
		return a.end(wire.RollbackFailed, cause, err)
	}
	return a.end(wire.RolledBack, cause, nil)
}

// execute runs the phases that change the host, in the plan's order, then
// the health checks, so a check that fails rolls back like a failed unit.
func (a *applier) execute() error {
	if err := a.validate.validateApps(); err != nil {
		return err
	}
	if err := a.files.checkouts(); err != nil {
		return err
	}
	if err := a.links.symlinks(); err != nil {
		return err
	}
	if err := a.links.linkSysusers(); err != nil {
		return err
	}
	if err := a.units.sysusers(); err != nil {
		return err
	}
	if err := a.files.fixOwners(); err != nil {
		return err
	}
	if err := a.units.stop(); err != nil {
		return err
	}
	if err := a.links.linkUnits(); err != nil {
		return err
	}
	if err := a.files.removeApps(); err != nil {
		return err
	}
	names, reloaded, err := a.units.start()
	if err != nil {
		return err
	}
	if err := a.watch(names, reloaded); err != nil {
		return err
	}
	return a.checks.run()
}

// watch opens the wait for confirmation and watches the units restarted
// or reloaded (names) settle.
//
// Every change is made; settling only watches. But a reload is a
// signal: systemd's job is done once it is sent, not once the daemon has
// re-read its files (sshd had not, when the job returned, in about half
// the tries on lab hosts of three releases). A confirmation in that gap
// would be answered by the old configuration, which is what it must rule
// out, so after a reload the wait opens once the settle window, the
// daemon's time to re-read, is over.
func (a *applier) watch(names []string, reloaded bool) error {
	if !reloaded {
		if err := a.confirm.open(); err != nil {
			return err
		}
	}
	if len(names) > 0 {
		sd, err := a.sd.get()
		if err != nil {
			return err
		}
		if err := settle(a.env, sd, a.req.Settle, names, false); err != nil {
			return err
		}
	}
	if reloaded {
		return a.confirm.open()
	}
	return nil
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
	res := wire.Result{Outcome: outcome, Units: a.out.units, Checks: a.out.checks, Validation: a.out.validation}
	if cause != nil {
		res.Failure = a.failure(cause)
	}
	if rerr != nil {
		res.RollbackFailure = &wire.Failure{Code: wire.FailRollback, Step: "rollback", Message: rerr.Error()}
	}
	if a.rec != nil {
		a.rec.att.Outcome, a.rec.att.Error = res.Outcome, res.Message()
		if serr := a.rec.att.save(a.l); serr != nil {
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
		res.Freed = a.gc.run()
	}
	if r, rerr := a.hs.refs(); rerr == nil {
		res.Current, res.Target = r.current, r.target
	}
	return res
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
	// apply's result: they go to results of their own, and a warning says
	// what did not come back.
	e := *a.env
	e.out = &results{since: a.out.since}
	rb := unitRollback{env: &e, att: last, window: a.req.Settle, repair: true}
	return rb.run()
}

// reconcile makes every app of the host store's current commit point its
// current link at that app's checkout, writing the checkout again when it
// is gone. The links are deptool's own, but anyone with root can change
// them; the store's current ref is the record, so an apply and its undo
// start from what it says, never from a link someone pointed elsewhere.
// What it fixes is not part of the attempt: undoing the attempt must not
// break it again.
func (r *putBack) reconcile() error {
	for _, app := range slices.Sorted(maps.Keys(r.fromApps)) {
		if err := r.reconcileApp(app, r.fromApps[app]); err != nil {
			return fmt.Errorf("app %s: %w", app, err)
		}
	}
	return nil
}

func (r *putBack) reconcileApp(app string, tree store.ID) error {
	appDir := r.l.appDir(app)
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
	r.say(wire.Progress{Step: "repair", App: app, Detail: what + ", not at the checkout of the host's current commit (" + name[:12] + ")"})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(appDir, 0o755); err != nil {
			return bare(err)
		}
		if err := r.files.restoreCheckout(app, appDir, dir, tree); err != nil {
			return err
		}
	case err != nil:
		return bare(err)
	case !fi.IsDir():
		return fmt.Errorf("%s is in the way and is not a checkout: remove it", dir)
	}
	return setSymlink(filepath.Join(appDir, "current"), name)
}

// checkRequest refuses a request the host cannot carry out as asked. It
// returns the commit's apps by name, and fromApps, the apps of the current
// commit (from) by name: what the host store says the host runs, whatever
// the links say; nil when the host store cannot tell.
func checkRequest(host string, st *store.Store, req *wire.ApplyRequest, from store.ID) (apps, fromApps map[string]store.ID, refuse *wire.AgentError) {
	p := &req.Plan
	if p.Host != host {
		return nil, nil, wire.Errorf(wire.CodeBadRequest, "the plan is for host %s", p.Host)
	}
	if p.Base != from {
		return nil, nil, staleError(p.Base, from)
	}
	info, err := st.CommitInfo(req.Commit)
	if err != nil {
		return nil, nil, wire.Errorf(wire.CodeMissing, "commit %s is not in the host's store: send its objects first", req.Commit)
	}
	if info.Tree != p.To {
		return nil, nil, wire.Errorf(wire.CodeBadRequest, "commit %s has tree %s, the plan wants %s", short(req.Commit), short(info.Tree), short(p.To))
	}
	if apps, err = appTrees(st, info.Tree); err != nil {
		return nil, nil, wire.Errorf(wire.CodeMissing, "%v", err)
	}
	fromApps = map[string]store.ID{}
	if !from.IsZero() {
		// A host store that lost the current commit is the store's
		// repair to make; meanwhile the links are all there is to go by.
		fromApps = nil
		if info, err := st.CommitInfo(from); err == nil {
			if trees, err := appTrees(st, info.Tree); err == nil {
				fromApps = trees
			}
		}
	}
	if err := checkPlan(p, apps); err != nil {
		return nil, nil, wire.Errorf(wire.CodeBadRequest, "bad plan: %v", err)
	}
	return apps, fromApps, nil
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
func checkPlan(p *wire.Plan, apps map[string]store.ID) error {
	var errs []error
	for _, ap := range p.Apps {
		if !validName(ap.App) || strings.HasPrefix(ap.App, ".") {
			errs = append(errs, fmt.Errorf("app name %q", ap.App))
			continue
		}
		tree, inCommit := apps[ap.App]
		switch {
		case ap.Action == wire.Remove && inCommit:
			errs = append(errs, fmt.Errorf("app %s is removed by the plan but in the commit", ap.App))
		case ap.Action != wire.Remove && tree != ap.To:
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
