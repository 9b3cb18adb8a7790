package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
	"github.com/sourcegraph/conc/pool"
)

// Options tune a deploy.
type Options struct {
	// Parallel bounds how many hosts are worked on at once (default 32).
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
}

func (o *Options) defaults() {
	if o.Parallel < 1 {
		o.Parallel = 32
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

// Run applies plan, made for deploy commit deployID, to every host in it in
// parallel. Each host is independent: one that fails, is unreachable or is
// locked does not stop the others. Refs move only for hosts that deployed.
// The error is for failures of the operator's own side (the store); host
// failures are in the result.
func Run(ctx context.Context, s *store.Store, plan *diff.Plan, deployID store.ID, opts Options) (*Result, error) {
	opts.defaults()
	start := time.Now()
	d := &deployer{store: s, deploy: deployID, opts: opts}
	p := pool.NewWithResults[HostResult]().WithMaxGoroutines(opts.Parallel)
	for _, hp := range plan.Hosts {
		p.Go(func() HostResult {
			r := d.host(ctx, hp)
			opts.Reporter.Done(r)
			return r
		})
	}
	res := &Result{Deploy: diff.ObjectID(deployID), Hosts: p.Wait(), Elapsed: time.Since(start)}
	for _, r := range res.Hosts {
		if r.Outcome != Deployed {
			continue
		}
		if err := s.SetHostRef(r.Host, store.ID(r.Commit)); err != nil {
			return res, fmt.Errorf("host %s deployed, but recording it failed: %w; run 'deptool sync --limit %s'", r.Host, err, r.Host)
		}
	}
	// The audit trail: every host's outcome, with failed units and their
	// reasons, as a note on the deploy commit.
	note, err := json.Marshal(res)
	if err == nil {
		err = s.RecordOutcomes(deployID, note, opts.Operator, opts.Now())
	}
	if err != nil {
		return res, fmt.Errorf("record the outcomes of deploy %s: %w", deployID, err)
	}
	return res, nil
}

type deployer struct {
	store  *store.Store
	deploy store.ID
	opts   Options
	bins   binaries
}

// host runs one host's deploy from connection to result.
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
	commit, err := d.store.CommitHost(hp.Host, store.ID(hp.To), d.deploy, d.opts.Operator, d.opts.Now())
	if err != nil {
		return finish(Failed, err)
	}
	r.Commit = diff.ObjectID(commit)
	sess, err := d.connect(ctx, hp.Host)
	if err != nil {
		return finish(Unreachable, err)
	}
	defer sess.close()
	o, units, err := d.apply(ctx, sess, hp, commit)
	r.Units, r.Freed = units, sess.freed
	r.Checks = sess.checks
	return finish(o, err)
}

// apply locks the host, sends what it lacks and applies the plan.
func (d *deployer) apply(ctx context.Context, sess *session, hp diff.HostPlan, commit store.ID) (Outcome, []wire.UnitReport, error) {
	rep := d.opts.Reporter
	rep.Phase(hp.Host, Locking, "")
	err := sess.client.Lock(ctx, wire.LockRequest{Base: hp.Base, Operator: d.opts.Operator})
	if o, err := d.lockOutcome(ctx, sess, err); err != nil {
		return o, nil, err
	}
	rep.Phase(hp.Host, Sending, "")
	err = sess.client.SendObjects(ctx, func(w io.Writer) error {
		_, err := d.store.WritePack(w, []store.ID{commit}, []store.ID{store.ID(sess.hello.Current)})
		return err
	})
	if err != nil {
		return Failed, nil, fmt.Errorf("host %s: send objects: %w", hp.Host, err)
	}
	rep.Phase(hp.Host, Applying, "")
	res, err := sess.client.Apply(ctx, wire.ApplyRequest{
		Commit: diff.ObjectID(commit), Deploy: diff.ObjectID(d.deploy), Operator: d.opts.Operator, Plan: hp, Settle: d.opts.Settle, Keep: d.opts.Keep,
	}, func(p wire.Progress) { rep.Phase(hp.Host, Applying, p.Step) })
	if err != nil {
		return Failed, nil, fmt.Errorf("host %s: %w", hp.Host, err)
	}
	sess.client.Bye(ctx)
	sess.checks = res.Checks
	switch res.Outcome {
	case wire.Deployed:
		sess.freed = res.Freed
		return Deployed, res.Units, nil
	case wire.RolledBack:
		return RolledBack, res.Units, fmt.Errorf("host %s: rolled back: %s", hp.Host, res.Error)
	case wire.RollbackFailed:
		return RollbackFailed, res.Units, fmt.Errorf("host %s: rollback failed: %s", hp.Host, res.Error)
	}
	return Failed, res.Units, fmt.Errorf("host %s: %s", hp.Host, res.Error)
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
		return Unreachable, fmt.Errorf("host %s: lock: %w", host, err)
	}
	switch agentErr.Code {
	case wire.CodeBusy:
		return Busy, fmt.Errorf("host %s: %s; nothing was changed there, try again once that deploy is done", host, agentErr.Message)
	case wire.CodeStale:
		d.opts.Reporter.Phase(host, Fetching, "")
		if _, ferr := fetchInto(ctx, d.store, sess); ferr != nil {
			return Stale, fmt.Errorf("host %s: the plan is stale (the host was deployed from elsewhere) and fetching its state failed: %w", host, ferr)
		}
		return Stale, fmt.Errorf("host %s: the plan was stale: the host was deployed from another store; its state is now fetched, run 'deptool deploy' again to see the right plan", host)
	}
	return Failed, fmt.Errorf("host %s: lock: %w", host, err)
}
