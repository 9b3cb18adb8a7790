package deploy

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deptool/deptool/diff"
)

// stopAt is a Reporter that closes stop (the first interrupt) when a
// host reaches phase, and checks on each host's outcome that a deployed
// host's ref has moved already.
type stopAt struct {
	t     *testing.T
	sm    *seam
	phase Phase
	stop  chan struct{}
	once  sync.Once
}

func (r *stopAt) Phase(host string, p Phase, detail string) {
	if p == r.phase {
		r.once.Do(func() { close(r.stop) })
	}
}

func (r *stopAt) Done(h HostResult) {
	if h.Outcome != Deployed {
		return
	}
	if ref, _, err := r.sm.store.HostRef(h.Host); err != nil || ref != h.Commit {
		r.t.Errorf("%s deployed %s, but its ref is at %s when its outcome is reported (%v): an operator killed now leaves it pending", h.Host, h.Commit.Short(), ref.Short(), err)
	}
}

// The first interrupt, arriving as a host is being confirmed, does not
// end the confirmation's own session: the host is confirmed and deployed,
// not rolled back at its deadline for want of it. And each host's ref
// moves as it deploys, before the deploy records the rest.
func TestSeamFirstInterruptAtConfirmationStillConfirms(t *testing.T) {
	sm := newSeam(t, "h01")
	unit := "[Service]\nExecStart=/bin/web\n"
	sm.deploy(context.Background(), fleetOf(web("1", unit), "h01"), diff.PlanOptions{})
	rep := &stopAt{t: t, sm: sm, phase: Confirming, stop: make(chan struct{})}
	sm.opts.Reporter, sm.opts.Stop = rep, rep.stop
	// A real bound, reached only when the bug is back: the host then
	// waits this long for a confirmation that never comes.
	sm.opts.ConfirmTimeout = 2 * time.Second
	res := sm.deploy(context.Background(), fleetOf(web("2", unit), "h01"), diff.PlanOptions{})
	if got := res.Hosts[0]; got.Outcome != Deployed {
		t.Fatalf("h01 %s: %s", got.Outcome, got.Why())
	}
	if got := sm.read("h01", "/etc/web.conf"); got != "version 2\n" {
		t.Errorf("h01 runs %q", got)
	}
}

// onPhase calls f when a host first reaches phase.
type onPhase struct {
	phase Phase
	f     func()
	once  sync.Once
}

func (r *onPhase) Phase(host string, p Phase, detail string) {
	if p == r.phase {
		r.once.Do(r.f)
	}
}

func (r *onPhase) Done(HostResult) {}

// A second interrupt as a host is being confirmed abandons it, and its
// outcome says the truth: it rolls back by itself at its deadline unless
// confirmed, not that it "finishes on its own". The next sync finds the
// rollback in the host's journal and records it in that deploy's note.
// (The name is short: the host's confirmation socket lives under it.)
func TestSeamAbandonedAtConfirmation(t *testing.T) {
	sm := newSeam(t, "h01")
	unit := "[Service]\nExecStart=/bin/web\n"
	sm.deploy(context.Background(), fleetOf(web("1", unit), "h01"), diff.PlanOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sm.opts.Reporter = &onPhase{phase: Confirming, f: cancel}
	const timeout = 300 * time.Millisecond // the host's own wait, in real time
	sm.opts.ConfirmTimeout = timeout
	res := sm.deploy(ctx, fleetOf(web("2", unit), "h01"), diff.PlanOptions{})
	h := res.Hosts[0]
	at := sm.clock.Now().Add(timeout).Local().Format("15:04:05")
	if h.Outcome != Abandoned || !strings.Contains(h.Error, "it rolls back by itself at "+at+" unless confirmed") {
		t.Errorf("h01 %s: %s; want abandoned, rolling back by itself at %s", h.Outcome, h.Error, at)
	}
	sm.fleet.Wait() // the agent ends once its deadline passed and it rolled back
	for _, r := range sm.sync("h01") {
		if r.Error != "" {
			t.Fatalf("sync: %s", r.Error)
		}
	}
	got := sm.note(res.Deploy)["h01"]
	if got.Outcome != RolledBack || !strings.Contains(got.Why(), "found on the host by 'deptool sync'") {
		t.Errorf("the note after the sync says h01 %s: %s", got.Outcome, got.Why())
	}
	if got := sm.read("h01", "/etc/web.conf"); got != "version 1\n" {
		t.Errorf("h01 runs %q after rolling back", got)
	}
}

// A deploy whose context ran out of time was not interrupted: its hosts
// are not 'skipped' ("the deploy was interrupted"), which would send the
// operator looking for a Ctrl-C nobody pressed, but fail with the
// timeout. Only the operator's interrupt (a cancel) skips.
func TestSeamTimeoutIsNotAnInterrupt(t *testing.T) {
	sm := newSeam(t, "h01", "h02")
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	res := sm.deploy(ctx, fleetOf(web("1", ""), "h01", "h02"), diff.PlanOptions{})
	for _, h := range res.Hosts {
		if h.Outcome == Skipped || strings.Contains(h.Error, "interrupted") {
			t.Errorf("%s %s: %s, after a timeout", h.Host, h.Outcome, h.Error)
		}
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	res = sm.deploy(ctx, fleetOf(web("1", ""), "h01", "h02"), diff.PlanOptions{})
	for _, h := range res.Hosts {
		if h.Outcome != Skipped {
			t.Errorf("%s %s: %s, after an interrupt", h.Host, h.Outcome, h.Error)
		}
	}
}

// A deploy that recorded no outcome for a host (its operator was killed
// before the end) gets it from the next sync, from the host's journal;
// 'log' then shows it, not "no outcomes recorded".
func TestSeamSyncFillsInAMissingOutcome(t *testing.T) {
	sm := newSeam(t, "h01")
	res := sm.deploy(context.Background(), fleetOf(web("1", ""), "h01"), diff.PlanOptions{})
	empty, _ := json.Marshal(Result{Deploy: res.Deploy})
	if err := sm.store.RecordOutcomes(res.Deploy, empty, "ann@laptop", sm.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, r := range sm.sync("h01") {
		if r.Error != "" {
			t.Fatalf("sync: %s", r.Error)
		}
	}
	got := sm.note(res.Deploy)["h01"]
	if got.Outcome != Deployed || got.Commit != res.Hosts[0].Commit || !strings.Contains(got.Detail, "found on the host by 'deptool sync'") {
		t.Errorf("the note after the sync: %+v", got)
	}
	// A second sync has nothing to add and changes nothing.
	sm.sync("h01")
	if again := sm.note(res.Deploy)["h01"]; again.Detail != got.Detail {
		t.Errorf("a second sync rewrote the note: %+v", again)
	}
}
