package deploy

import (
	"context"

	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/agent"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/simsystemd"
	"github.com/deptool/deptool/store"
)

// holdLock takes host's lock in a session of another operator, as a
// deploy running elsewhere does; release ends that session.
func (sm *seam) holdLock(host, operator string) (release func()) {
	sm.t.Helper()
	ctx := context.Background()
	stdio, err := sm.fleet.Dial(ctx, host)
	if err != nil {
		sm.t.Fatal(err)
	}
	c := wire.NewClient(stdio, stdio)
	hello, err := c.Hello(ctx, wire.HelloRequest{Version: wire.Version, Build: wire.BuildHash(), Host: host, Operator: operator})
	if err != nil {
		sm.t.Fatal(err)
	}
	if err := c.Lock(ctx, wire.LockRequest{Base: hello.Current, Operator: operator}); err != nil {
		sm.t.Fatal(err)
	}
	return func() {
		c.Bye(ctx)
		stdio.Close()
	}
}

// journal is host's journal, newest last.
func (sm *seam) journal(host string) []agent.JournalEntry {
	sm.t.Helper()
	j, err := agent.ReadJournal(sm.fleet.Host(host).Root)
	if err != nil {
		sm.t.Fatal(err)
	}
	return j
}

// A host whose lock another deploy holds is busy: nothing changes there,
// the message names the holder, the others deploy, and the next deploy
// once the lock is free deploys it.
func TestSeamBusyHostIsLeftAlone(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	hosts := hostNames(2)
	sm := newSeam(t, hosts...)
	release := sm.holdLock("h02", "bob@desk")
	c := fleetOf(web("1", unitOK), hosts...)
	res := sm.deploy(context.Background(), c, diff.PlanOptions{})
	wantOutcomes(t, res, map[Outcome][]string{Deployed: {"h01"}, Busy: {"h02"}})
	if r := sm.note(res.Deploy)["h02"]; !strings.Contains(r.Error, "bob@desk") || !strings.Contains(r.Error, "nothing was changed there") {
		t.Errorf("h02: %q", r.Error)
	}
	if len(sm.journal("h02")) != 0 {
		t.Error("a busy host has a journal entry")
	}
	release()
	res = sm.deploy(context.Background(), c, diff.PlanOptions{})
	wantOutcomes(t, res, map[Outcome][]string{Deployed: {"h02"}})
}

// A host last deployed from another store is stale: nothing changes, its
// state is fetched, and the plan made again from it deploys.
func TestSeamStaleFromAnotherStore(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	sm := newSeam(t, "h01")
	other, err := store.Init(t.TempDir() + "/other")
	if err != nil {
		t.Fatal(err)
	}
	theirs := &seam{t: t, store: other, fleet: sm.fleet, opts: sm.opts}
	if res := theirs.deploy(context.Background(), fleetOf(web("theirs", unitOK), "h01"), diff.PlanOptions{}); res.Hosts[0].Outcome != Deployed {
		t.Fatalf("the other store's deploy: %+v", res.Hosts[0])
	}
	theirCommit := sm.journal("h01")[0].To
	c := fleetOf(web("ours", unitOK), "h01")
	res := sm.deploy(context.Background(), c, diff.PlanOptions{})
	wantOutcomes(t, res, map[Outcome][]string{Stale: {"h01"}})
	if !strings.Contains(res.Hosts[0].Error, "another store") {
		t.Errorf("stale: %q", res.Hosts[0].Error)
	}
	if got := sm.read("h01", "/etc/web.conf"); got != "version theirs\n" {
		t.Errorf("a stale host changed: %q", got)
	}
	if refs, _ := sm.store.HostRefs(); refs["h01"] != theirCommit {
		t.Errorf("h01's ref after the fetch: %s, want the other store's %s", refs["h01"], theirCommit)
	}
	res = sm.deploy(context.Background(), c, diff.PlanOptions{})
	wantOutcomes(t, res, map[Outcome][]string{Deployed: {"h01"}})
	if got := sm.read("h01", "/etc/web.conf"); got != "version ours\n" {
		t.Errorf("after the new plan: %q", got)
	}
}

// A deploy abandoned while its host waited for a confirmation leaves the
// host locked; the next deploy confirms it (its own connection is the
// proof), waits for it, finds the abandoned commit on the host, records it
// in the abandoned deploy's note and plans again: nothing is left to do.
func TestSeamAbandonedDeployIsFoundConfirmedAndRecorded(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	sm := newSeam(t, "h01")
	sm.opts.ConfirmTimeout = time.Hour // the host never gives up by itself here
	never := make(chan time.Time)
	sm.fleet.Host("h01").Agent.After = func(time.Duration) <-chan time.Time { return never }
	ctx, cancel := context.WithCancel(context.Background())
	ev := &events{onPhase: func(host string, p Phase, _ string) {
		if p == Confirming {
			cancel() // the operator is gone before it could confirm
		}
	}}
	sm.opts.Reporter = ev
	c := fleetOf(web("1", unitOK), "h01")
	first := sm.deploy(ctx, c, diff.PlanOptions{})
	wantOutcomes(t, first, map[Outcome][]string{Abandoned: {"h01"}})
	if got := sm.note(first.Deploy)["h01"]; got.Outcome != Abandoned {
		t.Fatalf("the abandoned deploy's note: %+v", got)
	}
	sm.opts.Reporter = nil
	second := sm.deploy(context.Background(), c, diff.PlanOptions{})
	wantOutcomes(t, second, map[Outcome][]string{Deployed: {"h01"}})
	if d := second.Hosts[0].Detail; !strings.Contains(d, "already deployed by deploy "+first.Deploy.Short()) {
		t.Errorf("second deploy's detail: %q", d)
	}
	got := sm.note(first.Deploy)["h01"]
	if got.Outcome != Deployed || !strings.Contains(got.Detail, "found on the host by deploy "+second.Deploy.Short()) {
		t.Errorf("the abandoned deploy's note, amended: %+v", got)
	}
	if j := sm.journal("h01"); len(j) != 1 || j[0].Outcome != wire.Deployed {
		t.Errorf("journal: %+v", j)
	}
}

// A deploy abandoned while its host applied, where the host then rolled
// back: the next deploy reads the host's journal, amends the abandoned
// deploy's note with the rollback, and deploys.
func TestSeamAbandonedRollbackIsAmendedFromTheJournal(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	sm := newSeam(t, "h01")
	sd := sm.fleet.Host("h01").Systemd
	sd.Script("web.service", simsystemd.Behaviour{FailStart: true})
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	sm.opts.Reporter = &events{onPhase: func(host string, p Phase, detail string) {
		if p == Applying && detail == "restart" {
			once.Do(cancel) // interrupted twice while the host restarts its unit
		}
	}}
	c := fleetOf(web("1", unitOK), "h01")
	first := sm.deploy(ctx, c, diff.PlanOptions{})
	wantOutcomes(t, first, map[Outcome][]string{Abandoned: {"h01"}})
	sm.fleet.Wait() // the host finishes on its own: it rolls back
	if j := sm.journal("h01"); len(j) != 1 || j[0].Outcome != wire.RolledBack {
		t.Fatalf("journal: %+v", j)
	}
	sd.Script("web.service", simsystemd.Behaviour{})
	sm.opts.Reporter = nil
	second := sm.deploy(context.Background(), c, diff.PlanOptions{})
	wantOutcomes(t, second, map[Outcome][]string{Deployed: {"h01"}})
	got := sm.note(first.Deploy)["h01"]
	if got.Outcome != RolledBack || !strings.Contains(got.Detail, "found on the host") {
		t.Errorf("the abandoned deploy's note, amended: %+v", got)
	}
}

// The same with a rollback that failed too: the journal's error already
// says why the rollback failed, and the amended note says it once.
func TestSeamAbandonedRollbackFailureIsAmendedOnce(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	sm := newSeam(t, "h01")
	sm.deploy(context.Background(), fleetOf(web("1", unitOK), "h01"), diff.PlanOptions{})
	sd := sm.fleet.Host("h01").Systemd
	sd.Script("web.service", simsystemd.Behaviour{FailStart: true})
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	sm.opts.Reporter = &events{onPhase: func(host string, p Phase, detail string) {
		if p == Applying && detail == "restart" {
			once.Do(cancel)
		}
	}}
	first := sm.deploy(ctx, fleetOf(web("2", unitOK), "h01"), diff.PlanOptions{})
	wantOutcomes(t, first, map[Outcome][]string{Abandoned: {"h01"}})
	sm.fleet.Wait()
	if j := sm.journal("h01"); len(j) != 2 || j[1].Outcome != wire.RollbackFailed {
		t.Fatalf("journal: %+v", j)
	}
	sm.opts.Reporter = nil
	Check(context.Background(), sm.store, []string{"h01"}, sm.opts.ConnectOptions)
	got := sm.note(first.Deploy)["h01"]
	if got.Outcome != RollbackFailed || strings.Count(got.Error, "; rollback: ") != 1 {
		t.Errorf("the abandoned deploy's note, amended: %+v", got)
	}
}
