package deploy

import (
	"context"
	"sort"
	"time"

	"github.com/sourcegraph/conc/pool"
)

// PingResult is one host's round trips over the agent protocol.
type PingResult struct {
	Host    string          `json:"host"`
	Connect time.Duration   `json:"connect_ns"`        // dial, agent start and hello
	RTTs    []time.Duration `json:"rtts_ns,omitempty"` // none for a host that did not answer
	Error   string          `json:"error,omitempty"`
}

// Percentile returns the p-th percentile (0..100) of the round trips.
func (r PingResult) Percentile(p int) time.Duration {
	if len(r.RTTs) == 0 {
		return 0
	}
	sorted := append([]time.Duration(nil), r.RTTs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return sorted[(len(sorted)-1)*p/100]
}

// PingOptions tune Ping.
type PingOptions struct {
	ConnectOptions
	Count int
	// OnReply, if set, is called after every round trip, for live output.
	OnReply func(host string, seq int, rtt time.Duration)
}

// Ping connects to every host, starts its agent, and measures count round
// trips over the agent protocol.
func Ping(ctx context.Context, hosts []string, opts PingOptions) []PingResult {
	d := newConnector(opts.ConnectOptions)
	p := pool.NewWithResults[PingResult]().WithMaxGoroutines(d.opts.Parallel)
	for _, host := range hosts {
		p.Go(func() PingResult { return d.ping(ctx, host, opts) })
	}
	res := p.Wait()
	sort.Slice(res, func(i, j int) bool { return res[i].Host < res[j].Host })
	return res
}

func (d *connector) ping(ctx context.Context, host string, opts PingOptions) PingResult {
	r := PingResult{Host: host}
	start := time.Now()
	sess, err := d.connect(ctx, host)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer sess.close()
	r.Connect = time.Since(start)
	for seq := range opts.Count {
		t := time.Now()
		if err := sess.client.Ping(ctx, seq); err != nil {
			r.Error = err.Error()
			return r
		}
		rtt := time.Since(t)
		r.RTTs = append(r.RTTs, rtt)
		if opts.OnReply != nil {
			opts.OnReply(host, seq, rtt)
		}
	}
	sess.client.Bye(ctx)
	return r
}
