package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/deptool/deptool/deploy"
)

// interrupts turns SIGINT, SIGTERM and SIGHUP (the terminal closed) into
// what an operator expects of each moment. Before a deploy starts applying
// (planning, the prompt), an interrupt cancels: nothing is committed or
// contacted. While it applies, the first interrupt starts no new host and
// follows those applying, through their confirmation, to their outcome;
// the second stops following them, and each host's outcome says what it
// does by itself (a host waiting for its confirmation rolls back).
type interrupts struct {
	abandon context.CancelFunc
	stop    chan struct{}

	mu       sync.Mutex
	n        int
	applying *hostTracker // set while a deploy applies
	w        io.Writer
}

type interruptsKey struct{}

// withInterrupts makes ctx end on the first interrupt before a deploy
// applies, or the second while it does.
func withInterrupts(ctx context.Context, w io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	in := &interrupts{abandon: cancel, stop: make(chan struct{}), w: w}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for range sigs {
			in.interrupt()
		}
	}()
	return context.WithValue(ctx, interruptsKey{}, in), func() { signal.Stop(sigs); cancel() }
}

func interruptsOf(ctx context.Context) *interrupts {
	in, _ := ctx.Value(interruptsKey{}).(*interrupts)
	return in
}

func (in *interrupts) interrupt() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.n++
	switch {
	case in.applying == nil:
		in.abandon()
	case in.n == 1:
		close(in.stop)
		running := in.applying.running()
		msg := "Interrupted: starting no new hosts."
		if len(running) > 0 {
			msg = fmt.Sprintf("Interrupted: starting no new hosts; following %s to the end of the apply (interrupt again to stop waiting: a host waiting for its confirmation then rolls back by itself).", strings.Join(running, ", "))
		}
		in.applying.notice(msg)
	default:
		running := in.applying.running()
		if len(running) > 0 {
			in.applying.notice(fmt.Sprintf("Interrupted again: no longer waiting for %s; each host's outcome says what it does by itself.", strings.Join(running, ", ")))
		}
		in.abandon()
	}
}

// deploying wraps rep so that interrupts know which hosts apply, and
// returns the channel that closes on the first interrupt. Without
// interrupts (tests calling the command), it changes nothing.
func deploying(ctx context.Context, rep deploy.Reporter) (deploy.Reporter, <-chan struct{}, func()) {
	in := interruptsOf(ctx)
	if in == nil {
		return rep, nil, func() {}
	}
	t := &hostTracker{Reporter: rep, phase: map[string]deploy.Phase{}, w: in.w}
	in.mu.Lock()
	in.applying = t
	in.mu.Unlock()
	// Once hosts apply, output must not end the process: after a hangup
	// stdout may be a pipe with no reader (its write would raise SIGPIPE)
	// or a terminal gone (EIO), and the hosts are still followed and
	// recorded. A failed write is only a line not seen.
	signal.Ignore(syscall.SIGPIPE)
	return t, in.stop, func() {
		in.mu.Lock()
		in.applying = nil
		in.mu.Unlock()
	}
}

// hostTracker passes progress on and remembers which hosts are past the
// point where interrupting them would leave them half-done.
type hostTracker struct {
	deploy.Reporter
	mu    sync.Mutex
	phase map[string]deploy.Phase
	w     io.Writer
}

// noticer is a Reporter that prints a line of its own without breaking
// its display.
type noticer interface{ Notice(msg string) }

func (t *hostTracker) notice(msg string) {
	if n, ok := t.Reporter.(noticer); ok {
		n.Notice(msg)
		return
	}
	fmt.Fprintln(t.w, msg)
}

func (t *hostTracker) Phase(host string, p deploy.Phase, detail string) {
	t.mu.Lock()
	t.phase[host] = p
	t.mu.Unlock()
	t.Reporter.Phase(host, p, detail)
}

func (t *hostTracker) Done(r deploy.HostResult) {
	t.mu.Lock()
	delete(t.phase, r.Host)
	t.mu.Unlock()
	t.Reporter.Done(r)
}

// running names the hosts applying: sending objects or later.
func (t *hostTracker) running() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var names []string
	for h, p := range t.phase {
		switch p {
		case deploy.Sending, deploy.Applying, deploy.Confirming:
			names = append(names, h)
		}
	}
	slices.Sort(names)
	return names
}
