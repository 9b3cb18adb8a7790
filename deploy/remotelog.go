package deploy

import (
	"context"
	"fmt"

	"github.com/deptool/deptool/deploy/wire"
)

// JournalEntry is one apply on a host, as the host's own journal records
// it, whichever store it came from, and as the agent sends it.
type JournalEntry = wire.JournalEntry

// RemoteLog asks host's agent for the host's own journal of applies, newest
// first, at most limit entries (0: all), including applies made from other
// stores. It takes no lock and changes nothing on the host, though the
// agent is uploaded on first contact as for any session. Lines of the
// journal the host could not read (cut short by a crash or a full disk)
// are left out, and warnings name them.
func RemoteLog(ctx context.Context, host string, limit int, opts ConnectOptions) (entries []JournalEntry, warnings []string, err error) {
	sess, err := newConnector(opts).connect(ctx, host)
	if err != nil {
		return nil, nil, fmt.Errorf("host %s: %w", host, err)
	}
	defer sess.close()
	reply, err := sess.client.JournalReply(ctx, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("host %s: journal: %w", host, err)
	}
	sess.client.Bye(ctx)
	return reply.Entries, reply.Warnings, nil
}
