package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// lockWait follows a host whose lock an earlier apply holds while it waits
// for a confirmation, most likely one whose operator is gone: this deploy's
// own new connection confirms it (that the host is still reachable is all
// confirmation asks), then waits for it to finish and release the lock.
// A lock held by any other deploy is not waited for.
type lockWait struct {
	deploy    store.ID  // the holder's deploy waited for
	confirmed bool      // this session confirmed it
	until     time.Time // give up after
}

// lockRetry is the pause between attempts to take a lock waited for.
const lockRetry = 250 * time.Millisecond

// lockWaitAfter bounds the wait once the holder's own deadline passed: its
// units settle, its checks run, or it rolls back.
const lockWaitAfter = 2 * time.Minute

// wait reports whether to try the lock again.
func (w *lockWait) wait(ctx context.Context, d *deployer, sess *session, busy *wire.AgentError) bool {
	h := busy.Holder
	switch {
	case h == nil || d.stopped():
		return false
	case w.deploy.IsZero():
		if h.Doing != wire.AwaitingConfirmation {
			return false
		}
		w.deploy, w.until = h.Deploy, h.Until.Add(lockWaitAfter)
	case h.Deploy != w.deploy:
		return false // another deploy took the lock in between
	}
	rep := d.opts.Reporter
	if h.Doing == wire.AwaitingConfirmation && !w.confirmed {
		rep.Phase(sess.host, Confirming, "deploy "+short(h.Deploy)+" by "+h.Operator)
		w.confirmed = sess.client.Confirm(ctx, "") == nil
	}
	detail := fmt.Sprintf("for deploy %s by %s to finish", short(h.Deploy), h.Operator)
	if !w.confirmed {
		detail += fmt.Sprintf(": it waits for a confirmation, and rolls back by itself at %s", h.Until.Local().Format("15:04:05"))
	}
	rep.Phase(sess.host, Waiting, detail)
	// The holder's deadline is the host's clock, which the operator's
	// own (Options.Now) is taken to follow.
	if d.opts.Now().After(w.until) {
		return false
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(lockRetry):
		return true
	}
}
