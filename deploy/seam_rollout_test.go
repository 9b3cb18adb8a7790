package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/simsystemd"
)

// events is a Reporter that records what the deployer says, in order, and
// lets a test act at a phase (onPhase) or an outcome (onDone).
type events struct {
	mu      sync.Mutex
	log     []string
	onPhase func(host string, p Phase, detail string)
	onDone  func(r HostResult)
}

func (e *events) Phase(host string, p Phase, detail string) {
	e.mu.Lock()
	e.log = append(e.log, host+" "+string(p))
	f := e.onPhase
	e.mu.Unlock()
	if f != nil {
		f(host, p, detail)
	}
}

func (e *events) Done(r HostResult) {
	e.mu.Lock()
	e.log = append(e.log, r.Host+" done")
	f := e.onDone
	e.mu.Unlock()
	if f != nil {
		f(r)
	}
}

// index is where line first is in the log; -1 when it is not.
func (e *events) index(line string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Index(e.log, line)
}

func (e *events) lastIndex(line string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.log) - 1; i >= 0; i-- {
		if e.log[i] == line {
			return i
		}
	}
	return -1
}

// failing makes web.service fail to start on hosts.
func (sm *seam) failing(hosts ...string) {
	for _, h := range hosts {
		sm.fleet.Host(h).Systemd.Script("web.service", simsystemd.Behaviour{FailStart: true, Journal: []string{"web: bad config"}})
	}
}

const unitOK = "[Service]\nExecStart=/bin/web\n"

// byOutcome groups a result's hosts by outcome.
func byOutcome(res *Result) map[Outcome][]string {
	out := map[Outcome][]string{}
	for _, h := range res.Hosts {
		out[h.Outcome] = append(out[h.Outcome], h.Host)
	}
	for _, hs := range out {
		slices.Sort(hs)
	}
	return out
}

func wantOutcomes(t *testing.T, res *Result, want map[Outcome][]string) {
	t.Helper()
	got := byOutcome(res)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		for _, h := range res.Hosts {
			t.Logf("%s %s: %s %s", h.Host, h.Outcome, h.Error, h.Detail)
		}
		t.Fatalf("outcomes %v, want %v", got, want)
	}
}

func mustRamp(t *testing.T, s string) diff.Ramp {
	r, err := diff.ParseRamp(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustBudget(t *testing.T, s string) *diff.Budget {
	b, err := diff.ParseBudget(s)
	if err != nil {
		t.Fatal(err)
	}
	return &b
}

// A canary that fails stops the rollout: the other hosts are never
// contacted, and say why.
func TestSeamCanaryFailureStopsTheRollout(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	hosts := hostNames(4)
	sm := newSeam(t, hosts...)
	sm.failing("h01")
	res := sm.deploy(context.Background(), fleetOf(web("1", unitOK), hosts...), diff.PlanOptions{Canary: []string{"h01"}})
	wantOutcomes(t, res, map[Outcome][]string{RolledBack: {"h01"}, Skipped: {"h02", "h03", "h04"}})
	for _, h := range res.Hosts {
		if h.Outcome == Skipped && !strings.Contains(h.Error, "rollout stopped after canary") {
			t.Errorf("%s: %s", h.Host, h.Error)
		}
	}
	for _, h := range []string{"h02", "h03", "h04"} {
		if n := sm.fleet.Host(h).Sessions(); n != 0 {
			t.Errorf("%s was contacted %d times", h, n)
		}
	}
	// The canary's failed unit is in the record, with its journal.
	r := sm.note(res.Deploy)["h01"]
	if len(r.Units) == 0 || !r.Units[0].Failed || !slices.Contains(r.Units[0].Journal, "web: bad config") {
		t.Errorf("h01's units in the note: %+v", r.Units)
	}
	// Refs moved for no host: the next plan has all four again.
	if p := sm.plan(fleetOf(web("1", unitOK), hosts...), diff.PlanOptions{}); len(p.Hosts) != 4 {
		t.Errorf("next plan has %d hosts, want 4", len(p.Hosts))
	}
}

// A canary that deploys lets the rest follow, in batches of the ramp, each
// batch begun only once the one before has ended.
func TestSeamRampsDeployBatchByBatch(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	hosts := hostNames(7)
	sm := newSeam(t, hosts...)
	ev := &events{}
	sm.opts.Reporter = ev
	res := sm.deploy(context.Background(), fleetOf(web("1", unitOK), hosts...),
		diff.PlanOptions{Canary: []string{"h01"}, Batch: mustRamp(t, "2,4")})
	wantOutcomes(t, res, map[Outcome][]string{Deployed: hosts})
	groups := [][]string{{"h01"}, {"h02", "h03"}, {"h04", "h05", "h06", "h07"}}
	for i := 1; i < len(groups); i++ {
		for _, before := range groups[i-1] {
			for _, after := range groups[i] {
				if ev.lastIndex(before+" done") > ev.index(after+" "+string(Connecting)) {
					t.Errorf("%s (stage %d) was contacted before %s (stage %d) ended:\n%s", after, i+1, before, i, strings.Join(ev.log, "\n"))
				}
			}
		}
	}
}

// Without --max-fail the rollout stops after the first stage with a
// failure; the other hosts of that stage are independent and deploy.
func TestSeamFirstFailureStopsAfterItsStage(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	hosts := hostNames(4)
	sm := newSeam(t, hosts...)
	sm.failing("h02")
	res := sm.deploy(context.Background(), fleetOf(web("1", unitOK), hosts...), diff.PlanOptions{Batch: mustRamp(t, "2")})
	wantOutcomes(t, res, map[Outcome][]string{Deployed: {"h01"}, RolledBack: {"h02"}, Skipped: {"h03", "h04"}})
	if code, _ := res.Exit(); code != ExitRolledBack {
		t.Errorf("exit %d, want %d", code, ExitRolledBack)
	}
}

// Without a rollout every host is one stage: a failed host stops no other.
func TestSeamWithoutRolloutAFailureStopsNoOther(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	hosts := hostNames(5)
	sm := newSeam(t, hosts...)
	sm.failing("h01", "h04")
	res := sm.deploy(context.Background(), fleetOf(web("1", unitOK), hosts...), diff.PlanOptions{})
	wantOutcomes(t, res, map[Outcome][]string{Deployed: {"h02", "h03", "h05"}, RolledBack: {"h01", "h04"}})
}

// --max-fail lets the rollout go on past failures until more hosts than it
// allows have not deployed, counted across stages.
func TestSeamMaxFailIsABudgetAcrossStages(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	hosts := hostNames(6)
	sm := newSeam(t, hosts...)
	sm.failing("h02", "h04")
	res := sm.deploy(context.Background(), fleetOf(web("1", unitOK), hosts...),
		diff.PlanOptions{Batch: mustRamp(t, "1"), MaxFail: mustBudget(t, "1")})
	// h02 is within the budget of 1; h04 is the second failure: stop.
	wantOutcomes(t, res, map[Outcome][]string{Deployed: {"h01", "h03"}, RolledBack: {"h02", "h04"}, Skipped: {"h05", "h06"}})
	for _, h := range res.Hosts {
		if h.Outcome == Skipped && !strings.Contains(h.Error, "h02, h04 not deployed") {
			t.Errorf("%s: %s", h.Host, h.Error)
		}
	}
}

// A canary stage stops the rollout on its first failure whatever the
// budget.
func TestSeamCanaryIgnoresTheBudget(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	hosts := hostNames(3)
	sm := newSeam(t, hosts...)
	sm.failing("h01")
	res := sm.deploy(context.Background(), fleetOf(web("1", unitOK), hosts...),
		diff.PlanOptions{Canary: []string{"h01"}, MaxFail: mustBudget(t, "5")})
	wantOutcomes(t, res, map[Outcome][]string{RolledBack: {"h01"}, Skipped: {"h02", "h03"}})
}

// An unreachable host is its own outcome: the others deploy, its ref does
// not move, and the record says why.
func TestSeamUnreachableHost(t *testing.T) {
	t.Parallel() // each test has its own store and fleet
	hosts := hostNames(3)
	sm := newSeam(t, hosts...)
	sm.fleet.Host("h02").Dial = func(context.Context) error {
		return fmt.Errorf("dial tcp 198.18.0.2:22: connect: no route to host")
	}
	c := fleetOf(web("1", unitOK), hosts...)
	c["gone"] = map[string]files{"web": web("1", unitOK)} // not in the fleet at all
	res := sm.deploy(context.Background(), c, diff.PlanOptions{})
	wantOutcomes(t, res, map[Outcome][]string{Deployed: {"h01", "h03"}, Unreachable: {"gone", "h02"}})
	if got := sm.note(res.Deploy)["h02"].Error; !strings.Contains(got, "no route to host") {
		t.Errorf("h02 in the note: %q", got)
	}
	if code, _ := res.Exit(); code != ExitHostFailed {
		t.Errorf("exit %d, want %d", code, ExitHostFailed)
	}
	p := sm.plan(c, diff.PlanOptions{})
	var again []string
	for _, h := range p.Hosts {
		again = append(again, h.Host)
	}
	if slices.Sort(again); !slices.Equal(again, []string{"gone", "h02"}) {
		t.Errorf("next plan: %v, want the unreachable hosts", again)
	}
}
