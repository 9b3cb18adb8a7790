package diff

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseBatch(t *testing.T) {
	for in, want := range map[string]Batch{"1": {N: 1}, "25%": {N: 25, Percent: true}, " 3 ": {N: 3}, "100%": {N: 100, Percent: true}} {
		got, err := ParseBatch(in)
		if err != nil || got != want {
			t.Errorf("ParseBatch(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "0%", "101%", "x", "2.5", "%"} {
		if _, err := ParseBatch(in); err == nil {
			t.Errorf("ParseBatch(%q) accepted", in)
		}
	}
}

func hostPlans(names ...string) []HostPlan {
	var hs []HostPlan
	for _, n := range names {
		hs = append(hs, HostPlan{Host: n})
	}
	return hs
}

func TestRolloutStages(t *testing.T) {
	hosts := hostPlans("db1", "web1", "web2", "web3", "web4")
	known := []string{"db1", "web1", "web2", "web3", "web4"}
	tests := []struct {
		name   string
		canary []string
		batch  Ramp
		want   []Stage
	}{
		{"no staging", nil, nil, nil},
		{"canary only", []string{"web2"}, nil, []Stage{
			{"canary", []string{"web2"}, true}, {"rest", []string{"db1", "web1", "web3", "web4"}, false}}},
		{"canaries in plan order, named twice", []string{"web3", "db1", "web3"}, nil, []Stage{
			{"canary", []string{"db1", "web3"}, true}, {"rest", []string{"web1", "web2", "web4"}, false}}},
		{"batches of 2", nil, Ramp{{N: 2}}, []Stage{
			{"batch 1 of 3", []string{"db1", "web1"}, false}, {"batch 2 of 3", []string{"web2", "web3"}, false}, {"batch 3 of 3", []string{"web4"}, false}}},
		{"canary then 50% of the other four", []string{"web1"}, Ramp{{N: 50, Percent: true}}, []Stage{
			{"canary", []string{"web1"}, true}, {"batch 1 of 2", []string{"db1", "web2"}, false}, {"batch 2 of 2", []string{"web3", "web4"}, false}}},
		{"1% rounds up to one host", nil, Ramp{{N: 1, Percent: true}}, []Stage{
			{"batch 1 of 5", []string{"db1"}, false}, {"batch 2 of 5", []string{"web1"}, false}, {"batch 3 of 5", []string{"web2"}, false},
			{"batch 4 of 5", []string{"web3"}, false}, {"batch 5 of 5", []string{"web4"}, false}}},
		{"every host a canary", known, Ramp{{N: 1}}, []Stage{{"canary", known, true}}},
		{"a ramp, the last size repeating", nil, Ramp{{N: 1}, {N: 2}}, []Stage{
			{"batch 1 of 3", []string{"db1"}, false}, {"batch 2 of 3", []string{"web1", "web2"}, false}, {"batch 3 of 3", []string{"web3", "web4"}, false}}},
		{"canaries by glob", []string{"web[13]"}, nil, []Stage{
			{"canary", []string{"web1", "web3"}, true}, {"rest", []string{"db1", "web2", "web4"}, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := planRollout(hosts, known, nil, tt.canary, tt.batch, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []Stage
			if r != nil {
				got = r.Stages
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRolloutRefusesCanariesOutsideTheTree(t *testing.T) {
	_, err := planRollout(hostPlans("web1"), []string{"web1", "web2"}, nil, []string{"web2", "web9", "db*"}, nil, nil)
	if err == nil {
		t.Fatal("canaries outside the tree accepted")
	}
	for _, want := range []string{"canary web9 is not a host in the config tree (did you mean web1?)", `canary glob "db*" matches no host`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "web2") {
		t.Errorf("error %q names web2, a host in the tree the plan leaves alone", err)
	}
}

// A canary the plan does not touch (a fixed canary group whose hosts are
// already up to date, as in CI's fix-up run) does not block the rollout:
// it has no canary stage, and the plan says why.
func TestRolloutGoesOnWithoutAnUntouchedCanary(t *testing.T) {
	groups := Groups{"canary": {"web1"}}
	r, err := planRollout(hostPlans("web2", "web3"), []string{"web1", "web2", "web3"}, groups, []string{"@canary"}, Ramp{{N: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Stage{{"batch 1 of 2", []string{"web2"}, false}, {"batch 2 of 2", []string{"web3"}, false}}
	if diff := cmp.Diff(want, r.Stages); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	if !cmp.Equal(r.Untouched, []string{"@canary"}) {
		t.Errorf("untouched canaries %q, want @canary, for the plan to say why it has no canary stage", r.Untouched)
	}
}

func TestParseRampAndBudget(t *testing.T) {
	r, err := ParseRamp("1,5,25%")
	if err != nil || r.String() != "1,5,25%" || len(r) != 3 || r[2] != (Batch{N: 25, Percent: true}) {
		t.Errorf("ParseRamp = %v, %v", r, err)
	}
	for _, in := range []string{"", "1,", ",2", "1,0", "1,x%"} {
		if _, err := ParseRamp(in); err == nil {
			t.Errorf("ParseRamp(%q) accepted", in)
		}
	}
	for in, want := range map[string]Budget{"0": {}, "2": {N: 2}, "10%": {N: 10, Percent: true}} {
		if got, err := ParseBudget(in); err != nil || got != want {
			t.Errorf("ParseBudget(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "101%", "x", "1.5"} {
		if _, err := ParseBudget(in); err == nil {
			t.Errorf("ParseBudget(%q) accepted", in)
		}
	}
	for _, tt := range []struct {
		b       Budget
		n, want int
	}{{Budget{N: 2}, 40, 2}, {Budget{N: 10, Percent: true}, 40, 4}, {Budget{N: 10, Percent: true}, 9, 0}, {Budget{N: 100, Percent: true}, 7, 7}} {
		if got := tt.b.allowed(tt.n); got != tt.want {
			t.Errorf("%v of %d hosts allows %d failures, want %d", tt.b, tt.n, got, tt.want)
		}
	}
}

// Properties of the stages, for random fleets, ramps and canaries: every
// host of the plan is in exactly one stage, in plan order after the
// canaries; the canaries come first, alone; each batch has the size its
// place in the ramp gives (the last one what is left), never zero.
func TestRolloutStageProperties(t *testing.T) {
	r := rand.New(rand.NewSource(19))
	for iter := range 2000 {
		n := r.Intn(60)
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("h%03d", i))
		}
		var ramp Ramp
		for range 1 + r.Intn(3) {
			if r.Intn(2) == 0 {
				ramp = append(ramp, Batch{N: 1 + r.Intn(10)})
			} else {
				ramp = append(ramp, Batch{N: 1 + r.Intn(100), Percent: true})
			}
		}
		var canary []string
		isCanary := map[string]bool{}
		for _, h := range names {
			if r.Intn(10) == 0 {
				canary = append(canary, h)
				isCanary[h] = true
			}
		}
		ro, err := planRollout(hostPlans(names...), names, nil, canary, ramp, &Budget{N: r.Intn(5)})
		if err != nil {
			t.Fatal(err)
		}
		what := fmt.Sprintf("iteration %d: %d hosts, ramp %s, %d canaries", iter, n, ramp, len(canary))
		var seen, rest []string
		for _, h := range names {
			if !isCanary[h] {
				rest = append(rest, h)
			}
		}
		stages := ro.Stages
		if len(canary) > 0 {
			if !stages[0].Canary || !cmp.Equal(stages[0].Hosts, canary) {
				t.Fatalf("%s: first stage %+v, want the canaries", what, stages[0])
			}
			seen = append(seen, stages[0].Hosts...)
			stages = stages[1:]
		}
		var batched []string
		for i, st := range stages {
			if st.Canary || len(st.Hosts) == 0 {
				t.Fatalf("%s: stage %d is %+v", what, i, st)
			}
			want := ramp[min(i, len(ramp)-1)].size(len(rest))
			if i < len(stages)-1 && len(st.Hosts) != want || len(st.Hosts) > want {
				t.Fatalf("%s: batch %d has %d hosts, want %d", what, i+1, len(st.Hosts), want)
			}
			batched = append(batched, st.Hosts...)
		}
		if !cmp.Equal(batched, rest) {
			t.Fatalf("%s: batches hold %v, want %v", what, batched, rest)
		}
		seen = append(seen, batched...)
		if len(seen) != n {
			t.Fatalf("%s: %d hosts in stages, want %d", what, len(seen), n)
		}
	}
}

func TestRolloutContinuesWithinTheBudget(t *testing.T) {
	hosts := hostPlans("c1", "h1", "h2", "h3", "h4", "h5", "h6")
	ro, err := planRollout(hosts, nil, nil, []string{"c1"}, Ramp{{N: 2}}, &Budget{N: 2})
	if err != nil {
		t.Fatal(err)
	}
	if ro.Allowed != 2 || ro.MaxFail != "2" {
		t.Errorf("budget %q allows %d", ro.MaxFail, ro.Allowed)
	}
	for _, tt := range []struct {
		stage, failed int
		want          bool
	}{
		{0, 0, true}, {0, 1, false}, // a failed canary stops at once
		{1, 1, true}, {2, 2, true}, {2, 3, false}, {3, 3, false},
	} {
		if got := ro.Continue(tt.stage, tt.failed); got != tt.want {
			t.Errorf("Continue(stage %d, %d failed) = %v, want %v", tt.stage, tt.failed, got, tt.want)
		}
	}
	var none *Rollout
	if !none.Continue(0, 0) || none.Continue(0, 1) {
		t.Error("a single stage's Continue")
	}
}

// A budget over a ramp: a canary, then batches of 1, 5 and 25% of 40 hosts.
func TestRolloutRampWithABudget(t *testing.T) {
	var names []string
	for i := 1; i <= 40; i++ {
		names = append(names, fmt.Sprintf("web%02d", i))
	}
	ro, err := planRollout(hostPlans(names...), names, nil, []string{"web01"}, Ramp{{N: 1}, {N: 5}, {N: 25, Percent: true}}, &Budget{N: 2})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, st := range ro.Stages {
		sizes = append(sizes, len(st.Hosts))
	}
	if want := []int{1, 1, 5, 10, 10, 10, 3}; !cmp.Equal(sizes, want) || !ro.Stages[0].Canary || ro.Allowed != 2 || ro.MaxFail != "2" {
		t.Errorf("stages of %v, canary %v, allowed %d, max-fail %q; want %v, a canary, 2, \"2\"", sizes, ro.Stages[0].Canary, ro.Allowed, ro.MaxFail, want)
	}
}
