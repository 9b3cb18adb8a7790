package deploy

import (
	"context"
	"sort"

	"github.com/deptool/deptool/store"
	"github.com/sourcegraph/conc/pool"
)

// SyncResult is one host's state as fetched.
type SyncResult struct {
	Host    string   `json:"host"`
	Before  store.ID `json:"before,omitzero"` // the store's ref before the sync
	Current store.ID `json:"current,omitzero"`
	Error   string   `json:"error,omitempty"`
}

// Changed reports whether the sync moved the host's ref.
func (r SyncResult) Changed() bool { return r.Before != r.Current }

// syncHosts is Transaction.Sync without the transaction.
func syncHosts(ctx context.Context, s *store.Store, hosts []string, opts ConnectOptions) []SyncResult {
	opts.defaults()
	d := &hostReader{connector: newConnector(opts), recorder: newRecorder(s, store.ZeroID, "'deptool sync'", opts)}
	p := pool.NewWithResults[SyncResult]().WithMaxGoroutines(opts.Parallel)
	for _, host := range hosts {
		p.Go(func() SyncResult { return d.sync(ctx, host) })
	}
	res := p.Wait()
	sort.Slice(res, func(i, j int) bool { return res[i].Host < res[j].Host })
	return res
}

func (d *hostReader) sync(ctx context.Context, host string) SyncResult {
	r := SyncResult{Host: host}
	before, _, err := d.store.HostRef(host)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Before, r.Current = before, before
	sess, err := d.connect(ctx, host)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer sess.close()
	if err := d.recordUnheard(ctx, sess); err != nil {
		r.Error = err.Error()
		return r
	}
	current, err := fetchInto(ctx, d.store, sess)
	if err != nil {
		r.Error = "fetch: " + err.Error()
		return r
	}
	if !current.IsZero() {
		r.Current = current
	}
	sess.client.Bye(ctx)
	return r
}
