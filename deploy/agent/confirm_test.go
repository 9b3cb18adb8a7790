package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/wire"
)

// confirmingHost is a host whose applies wait for confirmation on a timer
// the test fires.
func confirmingHost(t *testing.T) (*testHost, chan time.Time) {
	h := newTestHost(t)
	fire := make(chan time.Time, 1)
	h.opts.After = func(time.Duration) <-chan time.Time { return fire }
	h.confirmTimeout = 30 * time.Second
	return h, fire
}

// confirmFrom confirms token over a session of its own, as the operator's
// second connection does.
func (h *testHost) confirmFrom(token string) error {
	h.t.Helper()
	r := h.start(h.opts)
	r.hello(h.t)
	defer r.client.Bye(context.Background())
	return r.client.Confirm(context.Background(), token)
}

func TestConfirmedApplyIsDeployed(t *testing.T) {
	h, _ := confirmingHost(t)
	var confirmErr error
	var tokens []string
	h.onAwait = func(m wire.AwaitConfirm) {
		tokens = append(tokens, m.Token)
		if err := h.confirmFrom("not-the-token"); err == nil {
			t.Error("a wrong token was taken")
		}
		confirmErr = h.confirmFrom(m.Token)
	}
	d := h.deploy(apps{"nginx": {"nginx.conf": "v1"}}).mustSucceed(t)
	if confirmErr != nil {
		t.Fatalf("confirm: %v", confirmErr)
	}
	if len(tokens) != 1 || len(tokens[0]) != 32 {
		t.Fatalf("confirm steps with tokens %q, want one 128-bit token", tokens)
	}
	if got := h.refs().current; got != d.commit {
		t.Fatalf("current = %s, want %s", got, d.commit)
	}
	if h.exists(stateDir + "/confirm.sock") {
		t.Error("the confirmation socket outlived the apply")
	}
	// Each apply has its own token.
	h.deploy(apps{"nginx": {"nginx.conf": "v2"}}).mustSucceed(t)
	if len(tokens) != 2 || tokens[0] == tokens[1] {
		t.Fatalf("tokens %q: want a new one per apply", tokens)
	}
}

func TestUnconfirmedApplyRollsBackByItself(t *testing.T) {
	h, fire := confirmingHost(t)
	h.confirmTimeout = 0
	v1 := h.deploy(apps{"nginx": {"nginx.conf": "v1"}}).mustSucceed(t)

	h.confirmTimeout = 30 * time.Second
	var token string
	h.onAwait = func(m wire.AwaitConfirm) {
		token = m.Token
		fire <- time.Time{} // nobody confirms in time
	}
	d := h.deploy(apps{"nginx": {"nginx.conf": "v2"}})
	if d.result.Outcome != wire.RolledBack {
		t.Fatalf("outcome %s (%s), want rolled back", d.result.Outcome, d.result.Message())
	}
	if d.result.Failure.Code != wire.FailUnconfirmed || !strings.Contains(d.result.Message(), "not confirmed") || !strings.Contains(d.result.Message(), "30s") {
		t.Errorf("error %q does not say the apply was not confirmed within 30s", d.result.Message())
	}
	if got := h.refs().current; got != v1.commit {
		t.Fatalf("current = %s, want the old commit %s", got, v1.commit)
	}
	if got := h.read(stateDir + "/apps/nginx/current/nginx.conf"); got != "v1" {
		t.Fatalf("nginx.conf = %q after the rollback, want v1", got)
	}
	if j := h.journal(); j[len(j)-1].Outcome != wire.RolledBack {
		t.Fatalf("journal ends with %+v, want rolled back", j[len(j)-1])
	}
	// A confirmation that comes too late is told so.
	err := h.confirmFrom(token)
	if ae := wantAgentError(t, err, wire.CodeBadRequest); !strings.Contains(ae.Message, "no apply is waiting") {
		t.Errorf("late confirmation: %v", err)
	}
}

func TestNoConfirmationWithoutRollback(t *testing.T) {
	h, _ := confirmingHost(t)
	h.noRollback = true
	h.onAwait = func(wire.AwaitConfirm) { t.Fatal("an apply without rollback waited for confirmation") }
	h.deploy(apps{"nginx": {"nginx.conf": "v1"}}).mustSucceed(t)
}

// The wait for confirmation opens once every change is made, so the new
// connection is made while the units settle; a failed unit rolls back
// without waiting for one.
func TestConfirmationOpensBeforeUnitsSettle(t *testing.T) {
	h, rec := unitHost(t)
	h.opts.After = func(time.Duration) <-chan time.Time { return nil } // never fires
	h.confirmTimeout = 30 * time.Second
	web := func(version string) files {
		return files{"manifest.json": unitManifest([]string{"web.service"}, nil), "systemd/web.service": "[Service]\nExecStart=/bin/" + version + "\n"}
	}
	// Progress reaches the operator while the agent goes on, so the order
	// is read off the host itself: is the socket there at each call?
	var open []string
	rec.observe = func(call string) {
		open = append(open, fmt.Sprintf("%s: %v", call, h.exists(stateDir+"/confirm.sock")))
	}
	h.onAwait = func(m wire.AwaitConfirm) {
		if err := h.confirmFrom(m.Token); err != nil {
			t.Errorf("confirm: %v", err)
		}
	}
	h.deploy(apps{"web": web("v1")}).mustSucceed(t)
	rec.observe = nil
	want := []string{"reload: false", "enable web.service: false", "restart web.service: false", "settle web.service 0s: true"}
	if !slices.Equal(open, want) {
		t.Errorf("systemd calls and whether the confirmation was open:\n%q\nwant\n%q", open, want)
	}
	rec.take()

	// Nobody confirms v2 (the timer never fires either): its failed unit
	// decides, without waiting for a confirmation.
	h.onAwait = nil
	rec.fail("web.service", "exited", 1)
	d := h.deploy(apps{"web": web("v2")})
	if d.result.Outcome != wire.RolledBack || d.result.Failure.Code == wire.FailUnconfirmed || !strings.Contains(d.result.Message(), "unit web.service failed") {
		t.Fatalf("confirmed apply with a failed unit: %s, unconfirmed %v (%s)", d.result.Outcome, d.result.Failure.Code == wire.FailUnconfirmed, d.result.Message())
	}
}

// An apply whose operator is gone waits for a confirmation that will not
// come. The next deploy's session finds the lock busy, learns from it what
// the holder does and until when, and its own new connection confirms the
// apply, without the token the operator took with it.
func TestNextSessionConfirmsAnAbandonedApply(t *testing.T) {
	h, _ := confirmingHost(t)
	var busy *wire.AgentError
	var confirmErr error
	h.onAwait = func(m wire.AwaitConfirm) {
		r := h.start(h.opts)
		r.hello(t)
		defer r.client.Bye(context.Background())
		busy = wantAgentError(t, r.client.Lock(context.Background(), wire.LockRequest{Operator: "bob@desk"}), wire.CodeBusy)
		if got := busy.Holder; got == nil || got.Doing != wire.AwaitingConfirmation || !got.Until.Equal(m.Deadline) {
			t.Errorf("holder while awaiting confirmation: %+v, want %s until %s", got, wire.AwaitingConfirmation, m.Deadline)
		}
		confirmErr = r.client.Confirm(context.Background(), "")
	}
	d := h.deploy(apps{"nginx": {"nginx.conf": "v1"}}).mustSucceed(t)
	if confirmErr != nil {
		t.Fatalf("confirm from the next session: %v", confirmErr)
	}
	want := "waiting for a new connection to confirm deploy " + d.deploy.String()[:12] + "; without one it rolls back by itself at "
	if busy == nil || !strings.Contains(busy.Message, want) {
		t.Errorf("busy message does not say what the holder waits for:\n%v\nwant it to contain %q", busy, want)
	}
	// Once decided, nothing waits: a confirmation without a token finds
	// nothing to confirm.
	if err := h.confirmFrom(""); err == nil {
		t.Error("a confirmation without a token was taken with nothing waiting")
	}
}

// After a reload the wait opens only once the units settled: a reload's
// job ends when the signal is sent, before the daemon re-read its files,
// and a confirmation in that gap would be answered by the old config.
func TestConfirmationOpensAfterAReloadSettled(t *testing.T) {
	h, rec := unitHost(t)
	h.opts.After = func(time.Duration) <-chan time.Time { return nil } // never fires
	h.confirmTimeout = 30 * time.Second
	app := func(conf string) files {
		return files{"deny.conf": conf, "manifest.json": `{"systemd": {"reload": ["ssh.service"]}, "symlinks": {"/etc/ssh/sshd_config.d/deny.conf": "deny.conf"}}`}
	}
	var order []string
	rec.observe = func(call string) {
		order = append(order, fmt.Sprintf("%s: %v", call, h.exists(stateDir+"/confirm.sock")))
	}
	h.onAwait = func(m wire.AwaitConfirm) {
		order = append(order, "await")
		if err := h.confirmFrom(m.Token); err != nil {
			t.Errorf("confirm: %v", err)
		}
	}
	h.deploy(apps{"sshd": app("DenyUsers nobody\n")}).mustSucceed(t)
	want := []string{"reload ssh.service: false", "settle ssh.service 0s: false", "await"}
	if !slices.Equal(order, want) {
		t.Errorf("systemd calls, whether the confirmation was open, and when it opened:\n%q\nwant\n%q", order, want)
	}
}
