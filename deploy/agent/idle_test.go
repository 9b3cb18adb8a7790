package agent

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// fakeIdleClock is the idle watch's clock and timer, moved by the test.
type fakeIdleClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan chan time.Time // each timer the watch starts
}

func newFakeIdleClock() *fakeIdleClock {
	return &fakeIdleClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), waits: make(chan chan time.Time, 16)}
}

func (c *fakeIdleClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeIdleClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- ch
	return ch
}

// pass moves the clock on by d and fires the timer the watch is waiting on.
func (c *fakeIdleClock) pass(t *testing.T, d time.Duration) {
	t.Helper()
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	select {
	case ch := <-c.waits:
		ch <- c.Now()
	case <-time.After(10 * time.Second): // a hung test, not a timing
		t.Fatal("the idle watch started no timer")
	}
}

// An operator that goes silent after taking the lock loses it: the agent
// gives up after the idle timeout and exits, and the next deploy can lock.
func TestSilentOperatorLosesTheLock(t *testing.T) {
	h := newTestHost(t)
	clock := newFakeIdleClock()
	opts := h.opts
	opts.idle, opts.idleNow, opts.idleAfter = 30*time.Second, clock.Now, clock.After
	ctx := context.Background()
	r := h.start(opts)
	r.hello(t)
	if err := r.client.Lock(ctx, wire.LockRequest{Operator: operator}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.done:
		t.Fatal("the agent ended before the idle timeout")
	default:
	}
	// The watch rechecks when its timer fires; less than the limit since
	// the last byte does not end the session.
	clock.pass(t, 10*time.Second)
	clock.pass(t, 25*time.Second)
	<-r.done
	var ie *IdleError
	if !errors.As(r.err, &ie) || ie.Limit != 30*time.Second {
		t.Fatalf("Serve returned %v, want an *IdleError of 30s", r.err)
	}
	r2 := h.start(h.opts)
	r2.hello(t)
	if err := r2.client.Lock(ctx, wire.LockRequest{Operator: operator}); err != nil {
		t.Errorf("lock after the silent operator's agent gave up: %v", err)
	}
}

// A write the operator never reads fails after the stall limit instead of
// blocking the agent, and every later write fails at once.
func TestOutboxGivesUpOnAStalledReader(t *testing.T) {
	clock := newFakeIdleClock()
	block, got := make(chan struct{}), make(chan struct{}, 1)
	defer close(block)
	w := writerFunc(func(p []byte) (int, error) { got <- struct{}{}; <-block; return len(p), nil })
	o := newOutbox(w, 30*time.Second, clock.After)
	if _, err := o.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	<-got // the writer holds the first frame, stuck
	for i := range outboxFrames {
		if _, err := o.Write([]byte("progress")); err != nil {
			t.Fatalf("write %d into a queue with room: %v", i, err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := o.Write([]byte("one too many"))
		done <- err
	}()
	clock.pass(t, 30*time.Second)
	if err := <-done; err == nil {
		t.Fatal("a write to a stalled operator succeeded")
	}
	if _, err := o.Write([]byte("later")); err == nil {
		t.Error("a write after the stall succeeded")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// The idle clock stops while the agent applies: an apply that takes longer
// than the idle timeout finishes and answers, and the session goes on.
func TestApplyOutlastsTheIdleTimeout(t *testing.T) {
	h := newTestHost(t)
	clock := newFakeIdleClock()
	opts := h.opts
	opts.idle, opts.idleNow, opts.idleAfter = 30*time.Second, clock.Now, clock.After
	var once sync.Once
	opts.fault = func(Effect) error {
		// Mid-apply, an hour passes and the watch looks.
		once.Do(func() { clock.pass(t, time.Hour) })
		return nil
	}
	d := h.plan(apps{"site": {"index.html": "v1\n"}})
	r := h.start(opts)
	ctx := context.Background()
	r.hello(t)
	if err := r.client.Lock(ctx, wire.LockRequest{Base: d.plan.Base, Operator: operator}); err != nil {
		t.Fatal(err)
	}
	err := r.client.SendObjects(ctx, func(w io.Writer) error {
		_, err := h.src.WritePack(w, []store.ID{d.commit}, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.client.Apply(ctx, wire.ApplyRequest{Commit: d.commit, Deploy: d.deploy, Operator: operator, Plan: d.plan}, wire.ApplyEvents{})
	if err != nil || res.Outcome != wire.Deployed {
		t.Fatalf("an apply that outlasted the idle timeout: %+v, %v", res, err)
	}
	// The watch started a fresh wait when it saw the agent busy; the
	// session is still there.
	select {
	case <-clock.waits:
	case <-time.After(10 * time.Second): // a hung test, not a timing
		t.Fatal("the idle watch did not wait again")
	}
	if err := r.client.Ping(ctx, 1); err != nil {
		t.Fatalf("ping after the long apply: %v (agent: %v)", err, r.err)
	}
}
