package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/deptool/deptool/store"
)

// JournalEntry is one apply on a host, as the host's own journal records
// it, whichever store it came from.
type JournalEntry struct {
	Time     time.Time `json:"time"`
	Operator string    `json:"operator"`
	Deploy   store.ID  `json:"deploy"`
	From     store.ID  `json:"from"`
	To       store.ID  `json:"to"`
	Outcome  Outcome   `json:"outcome"`
	// Error is why the apply failed or was rolled back.
	Error string `json:"error,omitempty"`
	// RollbackError is why the rollback failed too.
	RollbackError string `json:"rollback_error,omitempty"`
	// FailedUnits are the units found failed, during the apply or after
	// the rollback.
	FailedUnits []string `json:"failed_units,omitempty"`
	// FailedChecks are the health checks that never passed, as
	// "app: check: last error".
	FailedChecks []string `json:"failed_checks,omitempty"`
}

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
	out := make([]JournalEntry, len(reply.Entries))
	for i, e := range reply.Entries {
		out[i] = JournalEntry{Time: e.Time, Operator: e.Operator, Deploy: e.Deploy, From: e.From, To: e.To,
			Outcome: fromWire(e.Outcome), Error: e.Error, RollbackError: e.RollbackError,
			FailedUnits: e.FailedUnits, FailedChecks: e.FailedChecks}
	}
	return out, reply.Warnings, nil
}
