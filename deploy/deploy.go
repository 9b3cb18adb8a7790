package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
	"github.com/sourcegraph/conc/pool"
)

// Options tune a deploy.
type Options struct {
	// Parallel bounds how many hosts are worked on at once (default
	// DefaultParallel).
	Parallel int
	// Reporter receives live progress; nil reports nothing.
	Reporter Reporter
	// Transport configures SSH; its zero value reads the environment.
	Transport transport.Options
	// Operator is user@hostname, recorded on hosts; default store.Operator().
	Operator string
	// Now is the clock used for host commits; default time.Now.
	Now func() time.Time
	// Settle is how long each host watches the units it restarted before
	// judging them. Zero checks once, at once.
	Settle time.Duration
	// Keep is how many old checkouts per app hosts keep; 0: their default.
	Keep int
	// ConfirmTimeout is how long a host waits, after a successful apply,
	// for the operator to reach it again over a new SSH connection before
	// it rolls back by itself. Zero: no confirmation.
	ConfirmTimeout time.Duration
	// ValidateTimeout bounds each validate command on the hosts; zero:
	// the agent's default (DefaultValidateTimeout).
	ValidateTimeout time.Duration
	// Source is the source-of-truth commit the tree was generated from,
	// recorded in the deploy commit (see SourceOf); "" records none.
	Source string
	// HelloTimeout bounds the wait for a started agent's hello; zero means
	// HelloTimeout.
	HelloTimeout time.Duration
	// UnitTimeout bounds each systemd job of an apply and its rollback
	// (restart, stop, reload, systemd-sysusers); zero means the agent's
	// default (DefaultUnitTimeout).
	UnitTimeout time.Duration
}

// DefaultUnitTimeout is how long a host waits for one systemd job before
// it counts the unit failed, kills its processes and rolls back. It is
// above systemd's own default start and stop timeouts (90 s), so a unit
// that keeps those fails by systemd's verdict, with systemd's reason; the
// bound catches the units that opt out of them (TimeoutStartSec=infinity,
// a Type=notify service that never notifies, an endless ExecStop=).
const DefaultUnitTimeout = wire.DefaultUnitTimeout

func (o Options) helloTimeout() time.Duration {
	if o.HelloTimeout > 0 {
		return o.HelloTimeout
	}
	return HelloTimeout
}

func (o *Options) defaults() {
	if o.Parallel < 1 {
		o.Parallel = DefaultParallel
	}
	if o.Reporter == nil {
		o.Reporter = noReporter{}
	}
	if o.Operator == "" {
		o.Operator = store.Operator()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Run applies plan, made for deploy commit deployID, to every host in it,
// stage by stage as its rollout says, the hosts of a stage in parallel. The
// rollout stops after a stage that leaves more hosts not deployed than its
// failure budget allows (by default, any); the hosts of later stages are
// skipped. Refs move only for hosts that deployed.
// The error is for failures of the operator's own side (the store); host
// failures are in the result.
func Run(ctx context.Context, s *store.Store, plan *diff.Plan, deployID store.ID, opts Options) (*Result, error) {
	opts.defaults()
	start := time.Now()
	d := &deployer{store: s, deploy: deployID, opts: opts}
	res := &Result{Deploy: deployID, Source: opts.Source}
	stages := stagesOf(plan)
	var failed []string
	for i, st := range stages {
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
	// deploy repairs; a lost outcome is lost.
	var errs []error
	for _, r := range res.Hosts {
		if r.Outcome != Deployed {
			continue
		}
		if err := s.SetHostRef(r.Host, r.Commit); err != nil {
			errs = append(errs, fmt.Errorf("host %s deployed, but recording it in the store failed: %w; run 'deptool sync --limit %s'", r.Host, err, r.Host))
		}
	}
	// The audit trail: every host's outcome, with failed units and their
	// reasons, as a note on the deploy commit.
	note, err := json.Marshal(res)
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
			d.opts.Reporter.Done(r)
			return r
		})
	}
	return p.Wait()
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
	var results []HostResult
	for _, hp := range st.hosts {
		r := HostResult{Host: hp.Host, Outcome: Skipped, Error: fmt.Sprintf(
			"not attempted: the rollout stopped after %s, with %s not deployed; nothing changed here and the change stays pending",
			stopped, failedList(failed))}
		d.opts.Reporter.Done(r)
		results = append(results, r)
	}
	return results
}

// failedList names the failed hosts, the first few of a long list.
func failedList(failed []string) string {
	if len(failed) > 5 {
		return fmt.Sprintf("%s and %d more", strings.Join(failed[:5], ", "), len(failed)-5)
	}
	return strings.Join(failed, ", ")
}

type deployer struct {
	store  *store.Store
	deploy store.ID
	opts   Options
	bins   binaries
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
	if ctx.Err() != nil {
		return finish(Skipped, ctx.Err())
	}
	commit, err := d.store.CommitHost(hp.Host, hp.To, d.deploy, d.opts.Operator, d.opts.Now())
	if err != nil {
		return finish(Failed, err)
	}
	r.Commit = commit
	sess, err := d.connect(ctx, hp.Host)
	if reached := (*reachedError)(nil); errors.As(err, &reached) {
		return finish(Failed, err)
	}
	if err != nil {
		return finish(Unreachable, err)
	}
	defer sess.close()
	o, err := d.apply(ctx, sess, hp, commit, &r)
	return finish(o, err)
}

// apply locks the host, sends what it lacks and applies the plan, filling
// in r's units, checks and freed bytes from the host's result.
func (d *deployer) apply(ctx context.Context, sess *session, hp diff.HostPlan, commit store.ID, r *HostResult) (Outcome, error) {
	rep := d.opts.Reporter
	rep.Phase(hp.Host, Locking, "")
	err := sess.client.Lock(ctx, wire.LockRequest{Base: hp.Base, Operator: d.opts.Operator})
	if o, err := d.lockOutcome(ctx, sess, err); err != nil {
		return o, err
	}
	rep.Phase(hp.Host, Sending, "")
	if err := d.sendObjects(ctx, sess, hp, commit); err != nil {
		return Failed, err
	}
	rep.Phase(hp.Host, Applying, "")
	var confirmErr error
	res, err := sess.client.Apply(ctx, wire.ApplyRequest{
		Commit: commit, Deploy: d.deploy, Operator: d.opts.Operator, Plan: hp, Settle: d.opts.Settle, Keep: d.opts.Keep,
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
			rep.Phase(hp.Host, Confirming, "")
			confirmErr = d.confirm(ctx, hp.Host, m.Token, sess.bin)
		},
	})
	if err != nil {
		return Failed, err
	}
	if res.Unconfirmed && confirmErr != nil {
		res.Error += " (the new connection failed: " + confirmErr.Error() + ")"
	}
	sess.client.Bye(ctx)
	r.Units, r.Checks = unitsFromWire(res.Units), checksFromWire(res.Checks)
	r.Validation = validationFromWire(res.Validation)
	o := fromWire(res.Outcome)
	if o == Deployed {
		r.Freed = res.Freed
		return o, nil
	}
	return o, errors.New(res.Error)
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
	conn, err := transport.Dial(ctx, host, d.opts.Transport)
	if err != nil {
		return err
	}
	sess := &session{host: host, conn: conn}
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

// lockOutcome turns a refused lock into an outcome. A stale plan fetches the
// host's state into the store first, so the next plan starts from the truth.
func (d *deployer) lockOutcome(ctx context.Context, sess *session, err error) (Outcome, error) {
	if err == nil {
		return Deployed, nil
	}
	host := sess.host
	var agentErr *wire.AgentError
	if !errors.As(err, &agentErr) {
		return Unreachable, fmt.Errorf("lock: %w", err)
	}
	switch agentErr.Code {
	case wire.CodeBusy:
		return Busy, fmt.Errorf("%s; nothing was changed there, try again once that deploy is done", agentErr.Message)
	case wire.CodeStale:
		d.opts.Reporter.Phase(host, Fetching, "")
		if _, ferr := fetchInto(ctx, d.store, sess); ferr != nil {
			return Stale, fmt.Errorf("the plan is stale (the host was deployed from elsewhere) and fetching its state failed: %w", ferr)
		}
		return Stale, errors.New("the plan was stale: the host was deployed from another store; its state is now fetched, run 'deptool deploy' again to see the right plan")
	}
	return Failed, fmt.Errorf("lock: %w", err)
}
