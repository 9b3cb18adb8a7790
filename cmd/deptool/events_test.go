package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPlanOnlyJSONIsOneValidDocument(t *testing.T) {
	dir := newCluster(t, twoHosts)
	out, _, err := run(t, "deploy", "--plan-only", "--output", "json", "--canary", "web1", dir)
	if err != nil {
		t.Fatal(err)
	}
	var plan struct {
		Event string `json:"event"`
		Hosts []struct {
			Host string `json:"host"`
		} `json:"hosts"`
		Rollout struct {
			Stages []struct {
				Name  string   `json:"name"`
				Hosts []string `json:"hosts"`
			} `json:"stages"`
		} `json:"rollout"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	if plan.Event != "plan" || len(plan.Hosts) != 2 || len(plan.Rollout.Stages) != 2 || plan.Rollout.Stages[0].Hosts[0] != "web1" {
		t.Errorf("plan event %+v", plan)
	}
}

func TestRolloutFlagsAreCheckedBeforeAnythingHappens(t *testing.T) {
	dir := newCluster(t, twoHosts)
	for _, tc := range []struct{ args, want string }{
		{"--batch 0", "batch \"0\": want a number of hosts"},
		{"--batch 120%", "at most 100%"},
		{"--canary web9", "canary web9 is not a host in the config tree"},
		{"--confirm-timeout -1s", "--confirm-timeout -1s"},
	} {
		_, _, err := run(t, append(append([]string{"deploy", "--plan-only"}, strings.Fields(tc.args)...), dir)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("deploy %s: error %v, want it to say %q", tc.args, err, tc.want)
		}
	}
}
