package agent

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// IdleTimeout is how long the agent waits for the operator when it is its
// turn to speak, before it gives up, releases the lock and exits. Nothing
// else ends an agent whose operator vanished without a FIN (a network cut,
// a laptop lid closed): sshd notices only by TCP keepalive, two hours
// later by default, or never with ClientAliveInterval 0, and meanwhile
// the host would stay locked. A working operator pauses between messages
// for milliseconds (it computes the pack it sends while it sends it). The
// bound is below the operator's own keepalive give-up (3 probes 15 s
// apart, each waited for 15 s: about a minute), so a host whose operator lost it is free again before the
// operator even reports the failure, and an immediate retry finds it free.
// Once an apply has started the agent does not wait for the operator at
// all: it finishes, answers into the void and exits.
const IdleTimeout = 30 * time.Second

// IdleError ends a session whose operator went silent.
type IdleError struct{ Limit time.Duration }

func (e *IdleError) Error() string {
	return fmt.Sprintf("the operator sent nothing for %s: giving up on it and releasing the lock", e.Limit)
}

// idleWatch ends the session (cancels its context) when no byte came from
// the operator for its limit while the agent was waiting for one. Time
// the agent spends on its own work (an apply, a fetch) does not count.
type idleWatch struct {
	limit  time.Duration
	now    func() time.Time
	after  func(time.Duration) <-chan time.Time
	cancel context.CancelCauseFunc
	stop   chan struct{}

	mu   sync.Mutex
	last time.Time // the last byte, or the end of the agent's last work
	busy int
}

func newIdleWatch(limit time.Duration, now func() time.Time, after func(time.Duration) <-chan time.Time, cancel context.CancelCauseFunc) *idleWatch {
	return &idleWatch{limit: limit, now: now, after: after, cancel: cancel, stop: make(chan struct{}), last: now()}
}

// touch notes that the operator sent something.
func (w *idleWatch) touch() {
	w.mu.Lock()
	w.last = w.now()
	w.mu.Unlock()
}

// working stops the clock until the returned func is called: the agent is
// not waiting for the operator meanwhile.
func (w *idleWatch) working() (done func()) {
	w.mu.Lock()
	w.busy++
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		w.busy--
		w.last = w.now()
		w.mu.Unlock()
	}
}

// run watches until stopped or the limit runs out.
func (w *idleWatch) run() {
	for {
		w.mu.Lock()
		wait := w.limit
		if w.busy == 0 {
			wait = w.limit - w.now().Sub(w.last)
		}
		w.mu.Unlock()
		if wait <= 0 {
			w.cancel(&IdleError{Limit: w.limit})
			return
		}
		select {
		case <-w.after(wait):
		case <-w.stop:
			return
		}
	}
}

func (w *idleWatch) close() { close(w.stop) }

// activityReader tells the watch about every byte the operator sends.
type activityReader struct {
	r io.Reader
	w *idleWatch
}

func (a activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.w.touch()
	}
	return n, err
}

// outbox decouples the agent from its stdout. An operator cut off by the
// network stops reading; sshd stops draining the agent's stdout, and a
// plain write would block the agent forever, in the middle of an apply,
// with the lock held. Writes are queued (up to outboxFrames writes) and
// written by a goroutine of their own; a write that finds the queue full
// waits at most the stall limit, after which the outbox is broken: every
// later write fails at once and the apply goes on without an audience.
type outbox struct {
	w     io.Writer
	limit time.Duration
	after func(time.Duration) <-chan time.Time
	ch    chan []byte
	dead  chan struct{} // closed when the writer gave up
	flush chan struct{} // closed by close: write out the rest and end
	done  chan struct{} // closed when the writer goroutine ended
	once  sync.Once

	mu  sync.Mutex
	err error
}

// outboxFrames bounds the queue: with frames of at most 64 KiB, 4 MiB.
const outboxFrames = 64

func newOutbox(w io.Writer, limit time.Duration, after func(time.Duration) <-chan time.Time) *outbox {
	o := &outbox{w: w, limit: limit, after: after, ch: make(chan []byte, outboxFrames),
		dead: make(chan struct{}), flush: make(chan struct{}), done: make(chan struct{})}
	go o.drain()
	return o
}

func (o *outbox) drain() {
	defer close(o.done)
	for {
		var p []byte
		select {
		case p = <-o.ch:
		case <-o.flush:
			select {
			case p = <-o.ch:
			default:
				return // all written
			}
		}
		if _, err := o.w.Write(p); err != nil {
			o.fail(err)
			return
		}
	}
}

func (o *outbox) fail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = err
		close(o.dead)
	}
}

func (o *outbox) broken() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// Write queues a copy of p.
func (o *outbox) Write(p []byte) (int, error) {
	if err := o.broken(); err != nil {
		return 0, err
	}
	cp := append([]byte(nil), p...)
	select {
	case o.ch <- cp:
		return len(p), nil
	default:
	}
	select {
	case o.ch <- cp:
		return len(p), nil
	case <-o.dead:
		return 0, o.broken()
	case <-o.after(o.limit):
		o.fail(fmt.Errorf("the operator read nothing for %s", o.limit))
		return 0, o.broken()
	}
}

// close writes out what is queued, waiting at most the stall limit, so a
// last reply (bye) reaches the operator before the agent exits.
func (o *outbox) close() {
	o.once.Do(func() { close(o.flush) })
	select {
	case <-o.done:
	case <-o.dead:
	case <-o.after(o.limit):
	}
}
