package deploy

import (
	"context"
	"fmt"

	"github.com/deptool/deptool/deploy/wire"
)

// RemoteLog asks host's agent for the host's own journal of applies, newest
// first, at most limit entries (0: all), including applies made from other
// stores. It takes no lock and changes nothing on the host, though the
// agent is uploaded on first contact as for any session.
func RemoteLog(ctx context.Context, host string, limit int, opts Options) ([]wire.JournalEntry, error) {
	opts.defaults()
	d := &deployer{opts: opts}
	sess, err := d.connect(ctx, host)
	if err != nil {
		return nil, err
	}
	defer sess.close()
	entries, err := sess.client.Journal(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("host %s: journal: %w", host, err)
	}
	sess.client.Bye(ctx)
	return entries, nil
}
