package deploy

import (
	"context"
	"sort"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
	"github.com/sourcegraph/conc/pool"
)

// CheckResult is what `deptool check` found on one host.
type CheckResult struct {
	Host string `json:"host"`
	// Current is the host commit the host runs; zero when nothing was
	// ever deployed there.
	Current store.ID      `json:"current,omitzero"`
	Drift   []Drift       `json:"drift,omitempty"`
	Checks  []CheckReport `json:"checks,omitempty"`
	// Error is why the host could not be checked.
	Error string `json:"error,omitempty"`
}

// Drift is one difference between a host and the host commit it runs,
// as the agent found it (see wire.DriftKind), or DriftRecord.
type Drift = wire.Drift

// DriftRecord: the store's ref for the host names another commit than the
// host runs (App is empty): see CompareRecords.
const DriftRecord wire.DriftKind = "record"

// OK reports whether the host was checked and nothing is wrong with it.
func (r CheckResult) OK() bool {
	if r.Error != "" || len(r.Drift) > 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Check asks every host's agent how the host drifted from the host commit
// it runs, and to run every app's health checks, in parallel. It takes no
// lock and changes nothing on the hosts (the agent is uploaded on first
// contact, as for any session).
// With a store s, what the hosts' journals say of this store's deploys
// that never heard back is recorded in their notes, as sync does.
func Check(ctx context.Context, s *store.Store, hosts []string, opts ConnectOptions) []CheckResult {
	opts.defaults()
	d := &hostReader{connector: newConnector(opts), recorder: newRecorder(s, store.ZeroID, "'deptool check'", opts)}
	p := pool.NewWithResults[CheckResult]().WithMaxGoroutines(opts.Parallel)
	for _, host := range hosts {
		p.Go(func() CheckResult { return d.check(ctx, host) })
	}
	res := p.Wait()
	sort.Slice(res, func(i, j int) bool { return res[i].Host < res[j].Host })
	return res
}

func (d *hostReader) check(ctx context.Context, host string) CheckResult {
	r := CheckResult{Host: host}
	sess, err := d.connect(ctx, host)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer sess.close()
	// Errors say what failed and not on which host: the result names it,
	// and each printer adds it once (see TestSeamNoResultNamesItsHostTwice).
	if err := d.recordUnheard(ctx, sess); err != nil {
		r.Error = err.Error()
		return r
	}
	reply, err := sess.client.Drift(ctx)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	sess.client.Bye(ctx)
	r.Current, r.Checks, r.Drift = reply.Current, reply.Checks, reply.Drift
	return r
}
