package deploy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/simsystemd"
)

// Interrupts at every phase of a deploy. The first interrupt closes
// Options.Stop, the second ends the context, as cmd/deptool's interrupts
// do. Each test holds the first host (h01) in a phase with a hook that
// runs in that phase, interrupts from inside it, and lets the deploy go
// on; the second host (h02) has not started by then (Parallel 1).

// phase is where a test interrupts h01.
type phase string

const (
	atConnect      phase = "connect"
	atLock         phase = "lock"
	atSend         phase = "send"
	atApply        phase = "apply"
	atSettle       phase = "settle"
	atChecks       phase = "checks"
	atConfirmation phase = "confirmation"
	atRecord       phase = "record"
)

// interruptRun is one deploy of h01 and h02, interrupted at a phase.
type interruptRun struct {
	sm      *seam
	res     *Result
	confirm bool // a confirmation was asked for (--confirm-timeout)
}

// deployInterrupted deploys web to h01 and h02 and interrupts times (1 or
// 2) at at, with a confirmation when confirm is set.
func deployInterrupted(t *testing.T, at phase, times int, confirm bool) *interruptRun {
	t.Helper()
	sm := newSeam(t, "h01", "h02")
	sm.opts.Parallel = 1
	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sm.opts.Stop = stop
	var once sync.Once
	interrupt := func() {
		once.Do(func() {
			close(stop)
			if times > 1 {
				cancel()
			}
		})
	}
	// After the confirmation: a test that interrupts in a phase the
	// confirmation precedes (settle, checks) waits for h01's confirming
	// session to end first, so the order is certain.
	confirmed := make(chan struct{})
	if confirm {
		sm.opts.Dialer = &secondClose{Dialer: sm.fleet, host: "h01", closed: confirmed}
	} else {
		close(confirmed)
	}
	if confirm {
		// The operator's bound on reaching the host again, and the host's
		// on waiting for it: reached only when a confirmation fails.
		sm.opts.ConfirmTimeout = 5 * time.Second
		if times > 1 {
			// Nobody will confirm: the host's timer fires once the
			// deploy has returned.
			hostGivesUp := make(chan time.Time)
			for _, h := range []string{"h01", "h02"} {
				sm.fleet.Host(h).Agent.After = func(time.Duration) <-chan time.Time { return hostGivesUp }
			}
			defer close(hostGivesUp)
		}
	}
	// The health check: an HTTP server on loopback, held while a test
	// interrupts in the checks phase.
	check := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if at == atChecks {
			<-confirmed
			interrupt()
		}
	}))
	t.Cleanup(check.Close)
	ev := &events{}
	sm.opts.Reporter = ev
	h01 := sm.fleet.Host("h01")
	switch at {
	case atConnect:
		h01.Dial = func(context.Context) error { interrupt(); return nil }
	case atLock, atSend, atConfirmation:
		want := map[phase]Phase{atLock: Locking, atSend: Sending, atConfirmation: Confirming}[at]
		ev.onPhase = func(host string, p Phase, _ string) {
			if host == "h01" && p == want {
				interrupt()
			}
		}
	case atApply, atSettle:
		call := map[phase]string{atApply: "restart", atSettle: "settle"}[at]
		h01.Systemd.Hook = func(ctx context.Context, c simsystemd.Call) error {
			if c.Op == call {
				if at == atSettle {
					<-confirmed
				}
				interrupt()
			}
			return nil
		}
	case atRecord:
		var mu sync.Mutex
		done := 0
		ev.onDone = func(HostResult) {
			mu.Lock()
			defer mu.Unlock()
			if done++; done == 2 {
				interrupt() // every host has its outcome: the record is next
			}
		}
	}
	c := fleetOf(withCheck(web("1", unitOK), check.URL), "h01", "h02")
	res, err := sm.deployPlan(ctx, sm.plan(c, diff.PlanOptions{}))
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	// The record is written whatever the interrupts: the note holds every
	// host's outcome as the result does.
	note := sm.note(res.Deploy)
	for _, h := range res.Hosts {
		if note[h.Host].Outcome != h.Outcome {
			t.Errorf("%s: %s in the note, %s in the result", h.Host, note[h.Host].Outcome, h.Outcome)
		}
	}
	return &interruptRun{sm: sm, res: res, confirm: confirm}
}

// secondClose is a Dialer that closes closed when host's second session
// (the one that confirms) ends.
type secondClose struct {
	Dialer
	host   string
	closed chan struct{}
	mu     sync.Mutex
	n      int
}

func (d *secondClose) Dial(ctx context.Context, host string) (io.ReadWriteCloser, error) {
	rwc, err := d.Dialer.Dial(ctx, host)
	if err != nil || host != d.host {
		return rwc, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n++; d.n != 2 {
		return rwc, nil
	}
	return &onClose{ReadWriteCloser: rwc, f: func() { close(d.closed) }}, nil
}

type onClose struct {
	io.ReadWriteCloser
	once sync.Once
	f    func()
}

func (c *onClose) Close() error {
	err := c.ReadWriteCloser.Close()
	c.once.Do(c.f)
	return err
}

// withCheck adds an HTTP health check to an app.
func withCheck(app files, url string) files {
	out := files{}
	for k, v := range app {
		out[k] = v
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(app["manifest.json"]), &m); err != nil {
		panic(err)
	}
	m["checks"] = []map[string]string{{"http": url}}
	data, _ := json.Marshal(m)
	out["manifest.json"] = string(data)
	return out
}

// untouched checks that a host has no journal entry and nothing of web.
func (r *interruptRun) untouched(t *testing.T, host string) {
	t.Helper()
	if j := r.sm.journal(host); len(j) != 0 {
		t.Errorf("%s has a journal: %+v", host, j)
	}
}

// One interrupt: hosts not yet applying are skipped and untouched; those
// that were are followed to their outcome, which is recorded.
func TestSeamOneInterrupt(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	for _, tc := range []struct {
		at      phase
		confirm bool
		h01     Outcome
	}{
		{at: atConnect, h01: Skipped},
		{at: atLock, h01: Skipped},
		{at: atSend, h01: Deployed},
		{at: atApply, h01: Deployed},
		{at: atSettle, h01: Deployed},
		{at: atChecks, h01: Deployed},
		{at: atRecord, h01: Deployed},
		{at: atConnect, confirm: true, h01: Skipped},
		{at: atLock, confirm: true, h01: Skipped},
		{at: atSend, confirm: true, h01: Deployed},
		{at: atApply, confirm: true, h01: Deployed},
		{at: atConfirmation, confirm: true, h01: Deployed},
		{at: atSettle, confirm: true, h01: Deployed},
		{at: atChecks, confirm: true, h01: Deployed},
		{at: atRecord, confirm: true, h01: Deployed},
	} {
		name := string(tc.at)
		if tc.confirm {
			name += "/confirm"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := deployInterrupted(t, tc.at, 1, tc.confirm)
			want := map[Outcome][]string{tc.h01: {"h01"}, Skipped: {"h02"}}
			if tc.at == atRecord {
				want = map[Outcome][]string{Deployed: {"h01", "h02"}}
			}
			if tc.h01 == Skipped {
				want = map[Outcome][]string{Skipped: {"h01", "h02"}}
			}
			wantOutcomes(t, r.res, want)
			for _, h := range r.res.Hosts {
				if h.Outcome == Skipped && h.Error != errInterrupted.Error() {
					t.Errorf("%s skipped: %s", h.Host, h.Error)
				}
			}
			if tc.at != atRecord {
				r.untouched(t, "h02")
			}
			if tc.h01 == Skipped {
				r.untouched(t, "h01")
				return
			}
			if j := r.sm.journal("h01"); len(j) != 1 || j[0].Outcome != wire.Deployed {
				t.Errorf("h01's journal: %+v", j)
			}
			if got := r.sm.read("h01", "/etc/web.conf"); got != "version 1\n" {
				t.Errorf("h01: %q", got)
			}
		})
	}
}

// Two interrupts: hosts not yet applying are skipped; those applying are
// abandoned and finish on their own, which the host's journal says.
func TestSeamTwoInterrupts(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	for _, tc := range []struct {
		at      phase
		confirm bool
		h01     Outcome
	}{
		{at: atConnect, h01: Skipped},
		{at: atLock, h01: Skipped},
		{at: atSend, h01: Skipped},
		{at: atApply, h01: Abandoned},
		{at: atSettle, h01: Abandoned},
		{at: atChecks, h01: Abandoned},
		{at: atRecord, h01: Deployed},
		{at: atConfirmation, confirm: true, h01: Abandoned},
		{at: atSettle, confirm: true, h01: Abandoned},
	} {
		name := string(tc.at)
		if tc.confirm {
			name += "/confirm"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := deployInterrupted(t, tc.at, 2, tc.confirm)
			want := map[Outcome][]string{tc.h01: {"h01"}, Skipped: {"h02"}}
			switch {
			case tc.at == atRecord:
				want = map[Outcome][]string{Deployed: {"h01", "h02"}}
			case tc.h01 == Skipped:
				want = map[Outcome][]string{Skipped: {"h01", "h02"}}
			}
			wantOutcomes(t, r.res, want)
			if tc.at != atRecord {
				r.untouched(t, "h02")
			}
			if tc.h01 == Skipped {
				r.untouched(t, "h01")
				return
			}
			r.sm.fleet.Wait() // abandoned hosts finish on their own
			j := r.sm.journal("h01")
			if len(j) != 1 {
				t.Fatalf("h01's journal: %+v", j)
			}
			wantEnd := wire.Deployed
			if tc.confirm && tc.at == atConfirmation {
				wantEnd = wire.RolledBack // nobody confirmed
			}
			if j[0].Outcome != wantEnd {
				t.Errorf("h01 ended %s on its own, want %s: %s", j[0].Outcome, wantEnd, j[0].Error)
			}
			if h := r.res.Hosts[0]; h.Outcome == Abandoned && !strings.Contains(h.Error, "interrupted twice") {
				t.Errorf("h01 abandoned: %q", h.Error)
			}
		})
	}
}
