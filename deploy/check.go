package deploy

import (
	"context"
	"fmt"
	"sort"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	"github.com/sourcegraph/conc/pool"
)

// CheckResult is what `deptool check` found on one host.
type CheckResult struct {
	Host string `json:"host"`
	// Current is the host commit the host runs; zero when nothing was
	// ever deployed there.
	Current diff.ObjectID      `json:"current,omitzero"`
	Drift   []wire.Drift       `json:"drift,omitempty"`
	Checks  []wire.CheckReport `json:"checks,omitempty"`
	// Error is why the host could not be checked.
	Error string `json:"error,omitempty"`
}

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
func Check(ctx context.Context, hosts []string, opts Options) []CheckResult {
	opts.defaults()
	d := &deployer{opts: opts}
	p := pool.NewWithResults[CheckResult]().WithMaxGoroutines(opts.Parallel)
	for _, host := range hosts {
		p.Go(func() CheckResult { return d.check(ctx, host) })
	}
	res := p.Wait()
	sort.Slice(res, func(i, j int) bool { return res[i].Host < res[j].Host })
	return res
}

func (d *deployer) check(ctx context.Context, host string) CheckResult {
	r := CheckResult{Host: host}
	sess, err := d.connect(ctx, host)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer sess.close()
	reply, err := sess.client.Drift(ctx)
	if err != nil {
		r.Error = fmt.Sprintf("host %s: check: %v", host, err)
		return r
	}
	sess.client.Bye(ctx)
	r.Current, r.Drift, r.Checks = reply.Current, reply.Drift, reply.Checks
	return r
}
