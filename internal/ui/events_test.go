package ui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/store"
	"github.com/google/go-cmp/cmp"
)

// The stream's lines are flat objects: the event kind and time, then the
// body's own fields, so `jq 'select(.event == "outcome") | .host'` works.
func TestEventsAreFlatLines(t *testing.T) {
	var b strings.Builder
	events := NewEvents(&b)
	events.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	events.Phase("web1", deploy.Applying, "restart")
	events.Done(deploy.HostResult{Host: "web1", Outcome: deploy.RolledBack, Error: "boom",
		Units:  []deploy.UnitReport{{Unit: "a.service", Failed: true}},
		Checks: []deploy.CheckReport{{App: "nginx", Check: "tcp 127.0.0.1:9", Error: "refused", Attempts: 3}}})
	events.Summary(&deploy.Result{Hosts: []deploy.HostResult{{Host: "web1", Outcome: deploy.RolledBack}}}, deploy.ExitRolledBack)
	events.Emit("error", struct{}{})
	events.Emit("deploy", struct {
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

// The remote line counts each side's commits and the refs that differ,
// and says when the counts are only as of the last exchange.
func TestTheRemoteLineSaysWhatDiffers(t *testing.T) {
	for _, c := range []struct {
		r    RemoteStatus
		want string
	}{
		{RemoteStatus{URL: "r", Reached: true}, "remote r, just now: in step"},
		{RemoteStatus{URL: "r", RemoteState: store.RemoteState{Ahead: 1, Behind: 3, Refs: 2}},
			"remote r, as of the last exchange (not reached now): this store's main is 1 commit ahead, 3 behind; 2 host refs or pins differ"},
		{RemoteStatus{URL: "r", Reached: true, RemoteState: store.RemoteState{Refs: 1}},
			"remote r, just now: this store's main is 0 commits ahead, 0 behind; 1 host ref or pin differs"},
	} {
		if got := c.r.Line(); got != c.want {
			t.Errorf("%+v:\n got %s\nwant %s", c.r, got, c.want)
		}
	}
}
