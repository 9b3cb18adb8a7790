package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	hostlayout "github.com/deptool/deptool/diff/layout"
)

// An error names its host once: the result carries the host, and whoever
// prints it (a line per host, a JSON event with "host") adds it there.
// Neither the operator's wrapping nor the agent's message may name it
// again, whether the host was unreachable, failed its apply, or could not
// be checked.
func TestSeamNoResultNamesItsHostTwice(t *testing.T) {
	t.Parallel()
	hosts := []string{"alpha", "bravo", "charlie", "delta"}
	sm := newSeam(t, hosts...)
	ctx := context.Background()
	sm.deploy(ctx, fleetOf(web("1", unitOK), hosts...), diff.PlanOptions{})

	sm.fleet.Host("bravo").Dial = func(context.Context) error {
		return fmt.Errorf("dial tcp 198.18.0.2:22: connect: no route to host")
	}
	sm.failing("charlie")
	res := sm.deploy(ctx, fleetOf(web("2", unitOK), hosts...), diff.PlanOptions{})
	wantOutcomes(t, res, map[Outcome][]string{Deployed: {"alpha", "delta"}, RollbackFailed: {"charlie"}, Unreachable: {"bravo"}})

	// delta's host store loses its packs: the agent cannot read the
	// commit it runs, and says so.
	packs := filepath.Join(sm.fleet.Host("delta").Root, hostlayout.StoreDir, "objects")
	if err := os.RemoveAll(packs); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(packs, 0o755); err != nil {
		t.Fatal(err)
	}
	checked := Check(ctx, nil, hosts, sm.opts.ConnectOptions)

	var lines []struct{ host, json string }
	for _, r := range res.Hosts {
		data, _ := json.Marshal(r)
		lines = append(lines, struct{ host, json string }{r.Host, string(data)})
	}
	for _, r := range checked {
		data, _ := json.Marshal(r)
		lines = append(lines, struct{ host, json string }{r.Host, string(data)})
	}
	failures := 0
	for _, l := range lines {
		if n := strings.Count(l.json, l.host); n != 1 {
			t.Errorf("%s is named %d times in %s", l.host, n, l.json)
		}
		if strings.Contains(l.json, `"error"`) {
			failures++
		}
	}
	// bravo and charlie in the deploy; bravo and delta in the check.
	if failures != 4 {
		t.Errorf("%d results with an error, want 4:\n%v", failures, lines)
	}
}

// An apply no confirmation reached rolls back by itself; the operator
// knows it by the failure's code, not its words, and adds why its own
// new connection failed.
func TestSeamUnconfirmedApplySaysWhyTheConfirmationFailed(t *testing.T) {
	t.Parallel()
	sm := newSeam(t, "h01")
	h := sm.fleet.Host("h01")
	giveUp := make(chan time.Time)
	h.Agent.After = func(time.Duration) <-chan time.Time { return giveUp }
	var dials atomic.Int32
	h.Dial = func(context.Context) error {
		if dials.Add(1) == 2 { // the confirming connection
			close(giveUp) // the host's wait ends unconfirmed
			return &wire.AgentError{Code: wire.CodeInternal, Message: "the confirming connection broke"}
		}
		return nil
	}
	sm.opts.ConfirmTimeout = time.Minute
	res := sm.deploy(context.Background(), fleetOf(web("1", unitOK), "h01"), diff.PlanOptions{})
	wantOutcomes(t, res, map[Outcome][]string{RolledBack: {"h01"}})
	if got := res.Hosts[0].Error; !strings.Contains(got, "not confirmed") || !strings.HasSuffix(got, "(the new connection failed: the confirming connection broke)") {
		t.Errorf("error %q, want the unconfirmed apply and why the confirmation failed", got)
	}
}
