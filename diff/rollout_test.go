package diff

import (
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
		batch  Batch
		want   []Stage
	}{
		{"no staging", nil, Batch{}, nil},
		{"canary only", []string{"web2"}, Batch{}, []Stage{
			{"canary", []string{"web2"}}, {"rest", []string{"db1", "web1", "web3", "web4"}}}},
		{"canaries in plan order, named twice", []string{"web3", "db1", "web3"}, Batch{}, []Stage{
			{"canary", []string{"db1", "web3"}}, {"rest", []string{"web1", "web2", "web4"}}}},
		{"batches of 2", nil, Batch{N: 2}, []Stage{
			{"batch 1 of 3", []string{"db1", "web1"}}, {"batch 2 of 3", []string{"web2", "web3"}}, {"batch 3 of 3", []string{"web4"}}}},
		{"canary then 50% of the other four", []string{"web1"}, Batch{N: 50, Percent: true}, []Stage{
			{"canary", []string{"web1"}}, {"batch 1 of 2", []string{"db1", "web2"}}, {"batch 2 of 2", []string{"web3", "web4"}}}},
		{"1% rounds up to one host", nil, Batch{N: 1, Percent: true}, []Stage{
			{"batch 1 of 5", []string{"db1"}}, {"batch 2 of 5", []string{"web1"}}, {"batch 3 of 5", []string{"web2"}},
			{"batch 4 of 5", []string{"web3"}}, {"batch 5 of 5", []string{"web4"}}}},
		{"every host a canary", known, Batch{N: 1}, []Stage{{"canary", known}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := planRollout(hosts, known, tt.canary, tt.batch)
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

func TestRolloutRefusesCanariesOutsideThePlan(t *testing.T) {
	_, err := planRollout(hostPlans("web1"), []string{"web1", "web2"}, []string{"web2", "web9"}, Batch{})
	if err == nil {
		t.Fatal("canaries outside the plan accepted")
	}
	for _, want := range []string{"canary web2 is not in this plan", "canary web9 is not a host in the config tree"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestRenderPlanShowsRollout(t *testing.T) {
	p := &Plan{Hosts: hostPlans("web1", "web2"), Rollout: &Rollout{Stages: []Stage{{"canary", []string{"web1"}}, {"rest", []string{"web2"}}}}}
	var b strings.Builder
	if err := RenderPlan(&b, p, false); err != nil {
		t.Fatal(err)
	}
	want := "Rollout in stages; the first stage where a host does not deploy stops it:\n    1. canary: web1\n    2. rest: web2\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("plan:\n%s\nwant it to contain:\n%s", b.String(), want)
	}
}
