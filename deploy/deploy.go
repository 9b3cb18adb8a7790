package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
	"github.com/sourcegraph/conc/pool"
)

// Options tune a deploy: how its hosts are reached (ConnectOptions) and
// how each applies and judges its change.
type Options struct {
	ConnectOptions
	// Reporter receives live progress; nil reports nothing.
	Reporter Reporter
	// Settle is how long each host watches the units it restarted before
	// judging them. Zero checks once, at once.
	Settle time.Duration
	// Keep is how many old checkouts per app hosts keep; 0: their default.
	Keep int
	// ConfirmTimeout is how long a host waits, after a successful apply,
	// for the operator to reach it again over a new SSH connection before
	// it rolls back by itself. Zero: no confirmation.
	ConfirmTimeout time.Duration
	// Stop, once closed, starts no new host: hosts not yet applying are
	// skipped, and those applying are followed to their outcome. Ending
	// the context instead abandons those too (see Abandoned).
	Stop <-chan struct{}
	// ValidateTimeout bounds each validate command on the hosts; zero:
	// the agent's default (DefaultValidateTimeout).
	ValidateTimeout time.Duration
	// Source is the source-of-truth commit the tree was generated from,
	// recorded in the deploy commit (see SourceOf); "" records none.
	Source string
	// UnitTimeout bounds each systemd job of an apply and its rollback
	// (restart, stop, reload, systemd-sysusers); zero means the agent's
	// default (DefaultUnitTimeout).
	UnitTimeout time.Duration
	// Sign signs the deploy commit (see SigningKey); nil makes an
	// unsigned one, which a store that requires signatures refuses.
	Sign store.SignCommit
}

// DefaultUnitTimeout is how long a host waits for one systemd job before
// it counts the unit failed, kills its processes and rolls back. It is
// above systemd's own default start and stop timeouts (90 s), so a unit
// that keeps those fails by systemd's verdict, with systemd's reason; the
// bound catches the units that opt out of them (TimeoutStartSec=infinity,
// a Type=notify service that never notifies, an endless ExecStop=).
const DefaultUnitTimeout = wire.DefaultUnitTimeout

func (o *Options) defaults() {
	o.ConnectOptions.defaults()
	if o.Reporter == nil {
		o.Reporter = noReporter{}
	}
}

// run applies plan, made for deploy commit deployID, to every host in it,
// stage by stage as its rollout says, the hosts of a stage in parallel. The
// rollout stops after a stage that leaves more hosts not deployed than its
// failure budget allows (by default, any); the hosts of later stages are
// skipped. Refs move only for hosts that deployed.
// The error is for failures of the operator's own side (the store); host
// failures are in the result.
func run(ctx context.Context, s *store.Store, plan *diff.Plan, deployID store.ID, opts Options) (*Result, error) {
	opts.defaults()
	start := time.Now()
	d := newDeployer(s, deployID, plan.Tree, opts)
	if err := d.loadProof(); err != nil {
		return nil, err
	}
	res := &Result{Deploy: deployID, Source: opts.Source}
	stages := stagesOf(plan)
	var failed []string
	for i, st := range stages {
		if d.stopped() || interrupted(ctx) {
			res.Hosts = append(res.Hosts, d.skipAll(st, errInterrupted)...)
			continue
		}
		results := d.stage(ctx, st)
		res.Hosts = append(res.Hosts, results...)
		failed = append(failed, notDeployed(results)...)
		if !plan.Rollout.Continue(i, len(failed)) {
			for _, later := range stages[i+1:] {
				res.Hosts = append(res.Hosts, d.skip(later, st.name, failed)...)
			}
			break
		}
	}
	res.Elapsed = time.Since(start)
	// Record everything that can be recorded even when a part fails: a
	// host ref left behind only makes the next plan stale, which the next
	// deploy repairs; a lost outcome is lost. The refs moved as each
	// host deployed (see stage).
	errs := d.refErrs
	// The audit trail: every host's outcome, with failed units and their
	// reasons, as a note on the deploy commit.
	note, err := encodeNote(res)
	if err == nil {
		err = s.RecordOutcomes(deployID, note, opts.Operator, opts.Now())
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("record the outcomes of deploy %s: %w", deployID, err))
	}
	return res, errors.Join(errs...)
}

// stage is one step of a rollout: hosts deployed in parallel.
type stage struct {
	name  string
	hosts []diff.HostPlan
}

// stagesOf orders the plan's hosts by its rollout; without one, every
// host is in one stage.
func stagesOf(plan *diff.Plan) []stage {
	if plan.Rollout == nil {
		return []stage{{hosts: plan.Hosts}}
	}
	byName := make(map[string]diff.HostPlan, len(plan.Hosts))
	for _, hp := range plan.Hosts {
		byName[hp.Host] = hp
	}
	var stages []stage
	for _, st := range plan.Rollout.Stages {
		s := stage{name: st.Name}
		for _, h := range st.Hosts {
			s.hosts = append(s.hosts, byName[h])
		}
		stages = append(stages, s)
	}
	return stages
}

// stage deploys a stage's hosts in parallel. Each host is independent:
// one that fails, is unreachable or is locked does not stop the others.
func (d *deployer) stage(ctx context.Context, st stage) []HostResult {
	p := pool.NewWithResults[HostResult]().WithMaxGoroutines(d.opts.Parallel)
	for _, hp := range st.hosts {
		p.Go(func() HostResult {
			r := d.host(ctx, hp)
			if r.Outcome == Deployed {
				d.setRef(r)
			}
			d.opts.Reporter.Done(r)
			return r
		})
	}
	return p.Wait()
}

// setRef moves a host's ref as soon as it deployed, not once every host
// is done: an operator killed before the end leaves the store knowing
// what it could, and status shows that host current.
func (d *deployer) setRef(r HostResult) {
	if err := d.store.SetHostRef(r.Host, r.Commit); err != nil {
		d.notes.Lock()
		d.refErrs = append(d.refErrs, fmt.Errorf("host %s deployed, but recording it in the store failed: %w; run 'deptool sync --limit %s'", r.Host, err, r.Host))
		d.notes.Unlock()
	}
}

// notDeployed names the hosts of results that did not deploy.
func notDeployed(results []HostResult) []string {
	var names []string
	for _, r := range results {
		if r.Outcome != Deployed {
			names = append(names, r.Host)
		}
	}
	return names
}

// skip reports the hosts of a stage the rollout never reached.
func (d *deployer) skip(st stage, stopped string, failed []string) []HostResult {
	return d.skipAll(st, fmt.Errorf(
		"not attempted: the rollout stopped after %s, with %s not deployed; nothing changed here and the change stays pending",
		stopped, failedList(failed)))
}

func (d *deployer) skipAll(st stage, why error) []HostResult {
	var results []HostResult
	for _, hp := range st.hosts {
		r := HostResult{Host: hp.Host, Outcome: Skipped, Error: why.Error()}
		d.opts.Reporter.Done(r)
		results = append(results, r)
	}
	return results
}

// errInterrupted is why a host an interrupted deploy never started is
// skipped.
var errInterrupted = errors.New("not attempted: the deploy was interrupted; nothing changed here and the change stays pending")

// interrupted reports whether ctx ended because the operator interrupted
// the deploy, not because a deadline passed: a timeout is a failure with
// its own cause, and reporting it as "skipped: interrupted" tells the
// operator something that did not happen.
func interrupted(ctx context.Context) bool {
	return ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.DeadlineExceeded)
}

// unknownWhy ends the error of a host lost while it applied.
const unknownWhy = "the host finishes the apply on its own; the next deploy, 'deptool sync' or 'deptool check' records how it ended"

// abandoned says what a host the operator stopped following does by
// itself, and when: the host waiting for a confirmation that will not
// come rolls back at its deadline.
func (d *deployer) abandoned(awaiting time.Time, confirmed bool) error {
	const next = "the next deploy, 'deptool sync' or 'deptool check' records how it ended"
	switch {
	case confirmed:
		return fmt.Errorf("the deploy was interrupted twice after the host's apply was confirmed: it finishes deployed on its own; %s", next)
	case !awaiting.IsZero():
		return fmt.Errorf("the deploy was interrupted twice while the host waited for its confirmation: it rolls back by itself at %s unless confirmed (the next deploy confirms it); %s",
			awaiting.Local().Format("15:04:05"), next)
	case d.opts.ConfirmTimeout > 0:
		return fmt.Errorf("the deploy was interrupted twice while the host applied: it finishes the apply, then rolls back by itself %s later unless confirmed (the next deploy confirms it); %s",
			d.opts.ConfirmTimeout, next)
	}
	return fmt.Errorf("the deploy was interrupted twice while the host applied: it finishes the apply on its own, deployed or rolled back by its own checks; %s", next)
}

// failedList names the failed hosts, the first few of a long list.
func failedList(failed []string) string {
	if len(failed) > 5 {
		return fmt.Sprintf("%s and %d more", strings.Join(failed[:5], ", "), len(failed)-5)
	}
	return strings.Join(failed, ", ")
}

// deployer runs one deploy: its hosts reached through the connector, what
// they say of earlier deploys recorded through the recorder.
type deployer struct {
	*connector
	*recorder
	tree store.ID // the desired config tree, to plan a host again
	opts Options
	// refErrs are the deployed hosts whose refs could not move, guarded
	// by notes.
	refErrs []error
	// proof is what each host is sent to check the deploy's signature
	// itself (nil for an unsigned deploy); require tells hosts that have
	// not yet seen a signed deploy to refuse unsigned ones.
	proof   *wire.Signed
	index   *store.HostIndex // the deploy's host index, nil for a proof by root tree
	require bool
}

func newDeployer(s *store.Store, deployID, tree store.ID, opts Options) *deployer {
	c := newConnector(opts.ConnectOptions)
	c.reporter, c.stop = opts.Reporter, opts.Stop
	return &deployer{connector: c, recorder: newRecorder(s, deployID, "", opts.ConnectOptions), tree: tree, opts: opts}
}

// recorder amends the notes of this store's earlier deploys with what
// hosts say of them (see recordUnheard): for a deploy, a sync and a check.
type recorder struct {
	store  *store.Store // nil: record nothing
	deploy store.ID     // the deploy running, if any: never an earlier one
	by     string       // the command, when not a deploy: "'deptool sync'"
	notes  sync.Mutex   // amendments of earlier deploys' notes, and read
	// read holds the notes of earlier deploys as this command read or
	// amended them: every host asks of the same few deploys, and a note
	// of 10,000 hosts decoded again for each host was hours of CPU.
	read map[store.ID]*Result
	// operator and now sign and date the amended notes.
	operator string
	now      func() time.Time
}

func newRecorder(s *store.Store, deployID store.ID, by string, opts ConnectOptions) *recorder {
	opts.defaults()
	return &recorder{store: s, deploy: deployID, by: by, operator: opts.Operator, now: opts.Now}
}

// host runs one host's deploy from connection to result. Its errors do not
// name the host: the result does, once.
func (d *deployer) host(ctx context.Context, hp diff.HostPlan) HostResult {
	start := time.Now()
	r := HostResult{Host: hp.Host}
	finish := func(o Outcome, err error) HostResult {
		r.Outcome, r.Elapsed = o, time.Since(start)
		if err != nil {
			r.Error = err.Error()
		}
		return r
	}
	if d.stopped() || interrupted(ctx) {
		return finish(Skipped, errInterrupted)
	}
	sess, err := d.connect(ctx, hp.Host)
	if reached := (*reachedError)(nil); errors.As(err, &reached) {
		return finish(Failed, err)
	}
	if err != nil {
		if interrupted(ctx) || d.stopped() {
			return finish(Skipped, errInterrupted)
		}
		return finish(Unreachable, err)
	}
	defer sess.close()
	if err := d.recordUnheard(ctx, sess); err != nil {
		return finish(Failed, err)
	}
	o, err := d.apply(ctx, sess, hp, &r)
	return finish(o, err)
}

// recordUnheard fills in, from the host's journal, how earlier deploys of
// this store ended on the host when they could not see it: recorded
// unknown (the link was lost while the host applied) or abandoned (a
// second interrupt), or not recorded at all (the operator was killed).
// The host's target (last attempted) and current (last good) name the
// host commits to look for; only they can be unheard of, since any later
// command would have filled in the earlier ones.
func (d *recorder) recordUnheard(ctx context.Context, sess *session) error {
	if d.store == nil {
		return nil
	}
	type unheard struct{ deploy, commit store.ID }
	var open []unheard
	for _, c := range []store.ID{sess.hello.Target, sess.hello.Current} {
		earlier, ours := d.ownDeploy(c)
		if ours && !d.recorded(earlier, sess.host) && !slices.ContainsFunc(open, func(u unheard) bool { return u.commit == c }) {
			open = append(open, unheard{earlier, c})
		}
	}
	if len(open) == 0 {
		return nil
	}
	entries, err := sess.client.Journal(ctx, 10)
	if err != nil {
		return nil // the journal only adds to the record; the command goes on
	}
	for _, u := range open {
		i := slices.IndexFunc(entries, func(e wire.JournalEntry) bool { return e.To == u.commit }) // newest first
		if i < 0 {
			continue // still applying, or its line is lost: nothing to say yet
		}
		e := entries[i]
		found := HostResult{Host: sess.host, Outcome: e.Outcome, Commit: u.commit, Error: e.Error,
			Detail: fmt.Sprintf("found on the host by %s: this deploy never heard back", d.finder())}
		// The journal's error already says why a rollback failed (see
		// agent.JournalEntry): e.RollbackError is that part alone.
		if found.Error != "" {
			// Why shows the error alone: say there too where it came from.
			found.Error += " (" + found.Detail + ")"
		}
		if err := d.amend(u.deploy, found); err != nil {
			return err
		}
	}
	return nil
}

// finder names the command that reaches a host, in the notes it amends.
func (d *recorder) finder() string {
	if d.by != "" {
		return d.by
	}
	return "deploy " + short(d.deploy)
}

// recorded reports whether deploy's note has host's real outcome.
func (d *recorder) recorded(deploy store.ID, host string) bool {
	d.notes.Lock()
	defer d.notes.Unlock()
	res, err := d.outcomes(deploy)
	if err != nil || res == nil {
		return false
	}
	i := slices.IndexFunc(res.Hosts, func(h HostResult) bool { return h.Host == host })
	return i >= 0 && res.Hosts[i].Outcome != Abandoned && res.Hosts[i].Outcome != Unknown
}

// outcomes is deploy's note as this command last read or wrote it; nil
// when it has none. The caller holds d.notes.
func (d *recorder) outcomes(deploy store.ID) (*Result, error) {
	if res, ok := d.read[deploy]; ok {
		return res, nil
	}
	var res *Result
	if note, ok, err := d.store.Outcomes(deploy); err != nil {
		return nil, err
	} else if ok {
		if res, err = decodeNote(note); err != nil {
			return nil, fmt.Errorf("outcomes of deploy %s: %w", short(deploy), err)
		}
	}
	if d.read == nil {
		d.read = map[store.ID]*Result{}
	}
	d.read[deploy] = res
	return res, nil
}

// apply locks the host, sends what it lacks and applies the plan, filling
// in r's commit, units, checks and freed bytes from the host's result.
func (d *deployer) apply(ctx context.Context, sess *session, hp diff.HostPlan, r *HostResult) (Outcome, error) {
	rep := d.opts.Reporter
	w := &lockWait{}
	for {
		rep.Phase(hp.Host, Locking, "")
		err := sess.client.Lock(ctx, wire.LockRequest{Base: hp.Base, Operator: d.opts.Operator})
		if err == nil {
			break
		}
		next, o, err := d.refused(ctx, sess, hp, err, w, r)
		if next == nil {
			return o, err
		}
		hp = *next
	}
	if d.stopped() || interrupted(ctx) {
		sess.client.Bye(ctx)
		return Skipped, errInterrupted
	}
	plan, err := ApplyPlan(hp)
	if err != nil {
		return Failed, err
	}
	commit, err := d.store.CommitHost(hp.Host, hp.To, d.deploy, d.opts.Operator, d.opts.Now())
	if err != nil {
		return Failed, err
	}
	r.Commit = commit
	rep.Phase(hp.Host, Sending, "")
	if err := d.sendObjects(ctx, sess, hp, commit); err != nil {
		if ctx.Err() != nil {
			// Interrupted twice while sending: the host has not begun
			// to apply, so nothing changed there.
			return Skipped, errInterrupted
		}
		return Failed, err
	}
	rep.Phase(hp.Host, Applying, "")
	var confirmErr error
	var awaiting time.Time // the host's own deadline for a confirmation
	confirmed := false
	res, err := sess.client.Apply(ctx, wire.ApplyRequest{
		Commit: commit, Deploy: d.deploy, Operator: d.opts.Operator, Plan: plan, Settle: d.opts.Settle, Keep: d.opts.Keep,
		Signed: d.proofFor(hp.Host), RequireSigned: d.require,
		ConfirmTimeout: d.opts.ConfirmTimeout, ValidateTimeout: d.opts.ValidateTimeout, UnitTimeout: d.opts.UnitTimeout,
	}, wire.ApplyEvents{
		Progress: func(p wire.Progress) {
			if p.Step == "waiting" {
				// A job that takes long: say which, and for how long.
				rep.Phase(hp.Host, Applying, "waiting for "+p.Detail)
				return
			}
			rep.Phase(hp.Host, Applying, p.Step)
		},
		// The host waits until it hears from a new connection, and
		// otherwise rolls back by itself; this session only waits for
		// the result.
		AwaitConfirm: func(m wire.AwaitConfirm) {
			awaiting = m.Deadline
			rep.Phase(hp.Host, Confirming, "")
			confirmErr = d.confirm(ctx, hp.Host, m.Token, sess.bin)
			confirmed = confirmErr == nil
		},
	})
	if err != nil {
		if interrupted(ctx) {
			// The apply goes on without us; the next command that
			// reaches the host finds how it ended.
			return Abandoned, d.abandoned(awaiting, confirmed)
		}
		var agentErr *wire.AgentError
		if errors.As(err, &agentErr) {
			return Failed, err // the host's own answer
		}
		// The apply started and the link to the host is gone: the host
		// finishes without us, and how is not known here.
		return Unknown, fmt.Errorf("%w; %s", err, unknownWhy)
	}
	sess.client.Bye(ctx)
	r.Units, r.Checks, r.Validation = res.Units, res.Checks, res.Validation
	o := res.Outcome
	if o == Deployed {
		r.Freed = res.Freed
		return o, nil
	}
	failed := res.Err()
	if res.Failure != nil && res.Failure.Code == wire.FailUnconfirmed && confirmErr != nil {
		failed = fmt.Errorf("%w (the new connection failed: %v)", failed, confirmErr)
	}
	return o, failed
}

// sendObjects sends the host what it lacks of commit and of the commit it
// runs (hp.Base, which a rollback returns to): a pack against what the
// host says it runs, and when the host finds objects still missing (its
// store lost a pack, or was deleted and rebuilt from its journal), a pack
// of both commits' whole histories, which this store holds: the host
// commits are made here.
func (d *deployer) sendObjects(ctx context.Context, sess *session, hp diff.HostPlan, commit store.ID) error {
	want := []store.ID{commit}
	if !hp.Base.IsZero() {
		want = append(want, hp.Base)
	}
	var haves []store.ID
	if !sess.hello.Current.IsZero() {
		haves = []store.ID{sess.hello.Current}
	}
	for try := 0; ; try++ {
		reply, err := sess.client.SendObjectsFor(ctx, want, func(w io.Writer) error {
			_, err := d.store.WritePack(w, want, haves)
			return err
		})
		if err != nil {
			return err
		}
		if reply.Missing.IsZero() {
			return nil
		}
		if try > 0 || len(haves) == 0 {
			return fmt.Errorf("send objects: the host store still lacks object %s after a pack of the whole history", reply.Missing)
		}
		d.opts.Reporter.Phase(hp.Host, Sending, "repairing the host store")
		haves = nil
	}
}

// confirm reaches host again over a new SSH connection and confirms the
// apply waiting there with token: the proof that the apply left the host
// reachable. A service the apply restarted (sshd itself, the network) may
// refuse connections for a moment, so connecting is retried until the
// host's own timeout; an answer from the host's agent is final.
func (d *deployer) confirm(ctx context.Context, host, token string, bin *agentBinary) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.ConfirmTimeout)
	defer cancel()
	for {
		err := d.confirmOnce(ctx, host, token, bin)
		var agentErr *wire.AgentError
		if err == nil || errors.As(err, &agentErr) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(confirmRetry):
		}
	}
}

// confirmRetry is the pause between attempts to reach a host to confirm.
const confirmRetry = 200 * time.Millisecond

func (d *deployer) confirmOnce(ctx context.Context, host, token string, bin *agentBinary) error {
	if d.opts.Dialer != nil {
		sess, err := d.dial(ctx, host, bin, true)
		if err != nil {
			return err
		}
		defer sess.close()
		if err := sess.client.Confirm(ctx, token); err != nil {
			return err
		}
		sess.client.Bye(ctx)
		return nil
	}
	conn, err := transport.Dial(ctx, host, d.opts.Transport)
	if err != nil {
		return err
	}
	sess := &session{host: host, conn: conn, confirming: true}
	defer sess.close()
	if err := d.startAgent(ctx, sess, bin); err != nil {
		return err
	}
	if err := sess.client.Confirm(ctx, token); err != nil {
		return err
	}
	sess.client.Bye(ctx)
	return nil
}

// refused handles a refused lock. It returns the host's plan to lock with
// again, or else the host's outcome: a lock held by an apply that waits
// for a confirmation is confirmed and waited for; a plan made stale by an
// earlier deploy of this store that never heard back is recorded and made
// again; anything else ends the host's deploy.
func (d *deployer) refused(ctx context.Context, sess *session, hp diff.HostPlan, err error, w *lockWait, r *HostResult) (*diff.HostPlan, Outcome, error) {
	host := sess.host
	if ctx.Err() != nil {
		// Interrupted twice before the host was locked: not unreachable,
		// and nothing changed there.
		return nil, Skipped, errInterrupted
	}
	var agentErr *wire.AgentError
	if !errors.As(err, &agentErr) {
		return nil, Unreachable, fmt.Errorf("lock: %w", err)
	}
	if d.stopped() {
		return nil, Skipped, errInterrupted
	}
	switch agentErr.Code {
	case wire.CodeBusy:
		if !w.wait(ctx, d, sess, agentErr) {
			return nil, Busy, fmt.Errorf("%s; nothing was changed there, try again once that deploy is done", agentErr.Message)
		}
		return &hp, "", nil
	case wire.CodeStale:
		d.opts.Reporter.Phase(host, Fetching, "")
		if _, ferr := fetchInto(ctx, d.store, sess); ferr != nil {
			return nil, Stale, fmt.Errorf("the plan is stale (the host is at %s) and fetching its state failed: %w", short(agentErr.Current), ferr)
		}
		earlier, ours := d.ownDeploy(agentErr.Current)
		if !ours {
			return nil, Stale, errors.New("the plan was stale: the host was deployed from another store; its state is now fetched, run 'deptool deploy' again to see the right plan")
		}
		// An earlier deploy from this store applied the host commit
		// there but never heard back: record that, and plan again.
		if err := d.recordFound(earlier, host, agentErr.Current); err != nil {
			return nil, Failed, err
		}
		next, err := d.replan(hp)
		if err != nil {
			return nil, Failed, err
		}
		if next == nil {
			sess.client.Bye(ctx)
			r.Commit = agentErr.Current
			r.Detail = fmt.Sprintf("already deployed by deploy %s, found on the host", short(earlier))
			return nil, Deployed, nil
		}
		return next, "", nil
	}
	return nil, Failed, fmt.Errorf("lock: %w", err)
}

func short(id store.ID) string {
	if id.IsZero() {
		return "(none)"
	}
	return id.Short()
}

// ownDeploy reports which deploy of this store made host commit id, if
// one did.
func (d *recorder) ownDeploy(id store.ID) (store.ID, bool) {
	if id.IsZero() || !d.store.Has(id) {
		return store.ZeroID, false
	}
	deploy, ok, err := d.store.DeployOf(id)
	if err != nil || !ok || deploy == d.deploy {
		return store.ZeroID, false
	}
	if _, err := d.store.CommitInfo(deploy); err != nil {
		return store.ZeroID, false
	}
	return deploy, true
}

// recordFound amends the outcomes note of deploy earlier: host deployed
// commit, as found on the host by this deploy. A note that has the host
// already is the earlier deploy's own word, and stays.
func (d *recorder) recordFound(earlier store.ID, host string, commit store.ID) error {
	if d.recorded(earlier, host) {
		return nil
	}
	return d.amend(earlier, HostResult{Host: host, Outcome: Deployed, Commit: commit,
		Detail: fmt.Sprintf("found on the host by %s: this deploy never heard back", d.finder())})
}

// amend replaces (or adds) found's host in the outcomes note of deploy
// earlier.
func (d *recorder) amend(earlier store.ID, found HostResult) error {
	host := found.Host
	d.notes.Lock()
	defer d.notes.Unlock()
	res, err := d.outcomes(earlier)
	if err != nil {
		return err
	}
	if res == nil {
		res = &Result{Deploy: earlier}
	}
	i := slices.IndexFunc(res.Hosts, func(h HostResult) bool { return h.Host == host })
	if i < 0 {
		res.Hosts = append(res.Hosts, found)
	} else {
		res.Hosts[i] = found
	}
	note, err := encodeNote(res)
	if err != nil {
		return err
	}
	if err := d.store.RecordOutcomes(earlier, note, d.operator, d.now()); err != nil {
		delete(d.read, earlier) // as the store has it, not as amended here
		return fmt.Errorf("record the outcome of deploy %s found on the host: %w", short(earlier), err)
	}
	d.read[earlier] = res
	return nil
}

// replan plans hp's host again from its ref, which a fetch just moved: nil
// when the host already runs the desired tree.
func (d *deployer) replan(hp diff.HostPlan) (*diff.HostPlan, error) {
	plan, err := diff.MakePlan(d.store, d.tree, diff.PlanOptions{Limit: []string{hp.Host}, NoRollback: !hp.Rollback && !hp.New})
	if err != nil {
		return nil, err
	}
	if len(plan.Hosts) == 0 {
		return nil, nil
	}
	return &plan.Hosts[0], nil
}
