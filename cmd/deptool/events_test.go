package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/google/go-cmp/cmp"
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

// The stream's lines are flat objects: the event kind and time, then the
// body's own fields, so `jq 'select(.event == "outcome") | .host'` works.
func TestEventsAreFlatLines(t *testing.T) {
	var b strings.Builder
	events := newEventStream(&b)
	events.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	events.Phase("web1", deploy.Applying, "restart")
	events.Done(deploy.HostResult{Host: "web1", Outcome: deploy.RolledBack, Error: "boom",
		Units:  []deploy.UnitReport{{Unit: "a.service", Failed: true}},
		Checks: []deploy.CheckReport{{App: "nginx", Check: "tcp 127.0.0.1:9", Error: "refused", Attempts: 3}}})
	events.summary(&deploy.Result{Hosts: []deploy.HostResult{{Host: "web1", Outcome: deploy.RolledBack}}}, deploy.ExitRolledBack)
	events.emit("error", struct{}{})
	events.emit("deploy", struct {
		Time string `json:"time"`
	}{"then"})

	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		delete(m, "elapsed_ns")
		got = append(got, m)
	}
	at := "2026-01-02T03:04:05Z"
	want := []map[string]any{
		{"event": "phase", "time": at, "host": "web1", "phase": "applying", "detail": "restart"},
		{"event": "unit", "time": at, "host": "web1", "unit": "a.service", "failed": true},
		{"event": "check", "time": at, "host": "web1", "app": "nginx", "check": "tcp 127.0.0.1:9", "ok": false, "error": "refused", "attempts": 3.0},
		{"event": "outcome", "time": at, "host": "web1", "outcome": "rolled back", "error": "boom"},
		{"event": "summary", "time": at, "deploy": "0000000000000000000000000000000000000000", "hosts": 1.0, "outcomes": map[string]any{"rolled back": 1.0}, "exit_code": 2.0},
		{"event": "error", "time": at},
		{"event": "deploy", "time": "then"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}
