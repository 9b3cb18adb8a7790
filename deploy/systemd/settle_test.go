package systemd

import (
	"strings"
	"testing"
	"time"
)

func svc(active, sub, result string, nrestarts uint32) snapshot {
	return snapshot{LoadState: "loaded", ActiveState: active, SubState: sub, Type: "simple", Result: result, NRestarts: nrestarts, MainPID: 42}
}

func judge(samples ...snapshot) UnitState {
	w := &watch{unit: "x.service"}
	for _, s := range samples {
		w.observe(s)
	}
	return w.verdict(2 * time.Second)
}

func TestVerdict(t *testing.T) {
	oneshot := func(active, sub, result string) snapshot {
		s := svc(active, sub, result, 0)
		s.Type, s.MainPID = "oneshot", 0
		return s
	}
	running := svc("active", "running", "success", 0)
	tests := []struct {
		name    string
		samples []snapshot
		want    string // a substring of Reason; "" means not failed
	}{
		{"stays running", []snapshot{running, running, running}, ""},
		{"checked once", []snapshot{running}, ""},
		// lab.md: active/running until 0.8 s, auto-restart at 1.0 s,
		// NRestarts 1 at 1.8 s.
		{"crash after 0.8 s, whole window seen",
			[]snapshot{running, running, svc("activating", "auto-restart", "exit-code", 0), svc("active", "running", "success", 1)},
			"restarted 1 time during the 2s settle window (NRestarts 0 -> 1)"},
		{"crash seen only as auto-restart",
			[]snapshot{running, svc("activating", "auto-restart", "exit-code", 0)},
			"waiting to restart"},
		{"restarted between samples, back to running",
			[]snapshot{running, svc("active", "running", "success", 3)},
			"restarted 3 times"},
		{"back to activating", []snapshot{running, svc("activating", "start", "success", 0)}, "from active back to activating"},
		{"failed and stays failed", []snapshot{running, svc("failed", "failed", "exit-code", 0)}, "entered the failed state (Result=exit-code)"},
		{"failed then started by someone", []snapshot{svc("failed", "failed", "exit-code", 0), running}, "failed state"},
		{"simple service exited 0", []snapshot{running, svc("inactive", "dead", "success", 0)}, "is inactive (dead) when last seen, not active (Result=success)"},
		{"oneshot done", []snapshot{oneshot("inactive", "dead", "success")}, ""},
		{"oneshot with RemainAfterExit", []snapshot{oneshot("active", "exited", "success")}, ""},
		{"oneshot failed", []snapshot{oneshot("failed", "failed", "exit-code")}, "Result=exit-code"},
		{"oneshot stopped by signal", []snapshot{oneshot("inactive", "dead", "signal")}, "not active (Result=signal)"},
		{"reloading counts as up", []snapshot{running, svc("reloading", "reload", "success", 0)}, ""},
		{"not found", []snapshot{{LoadState: "not-found", ActiveState: "inactive", SubState: "dead", LoadError: "Unit x.service not found."}}, "not loaded (LoadState=not-found): Unit x.service not found."},
		{"slow start finishing is no restart", []snapshot{svc("activating", "start", "success", 0), running}, ""},
		{"still activating at the end", []snapshot{svc("activating", "start", "success", 0)}, "is activating (start) when last seen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := judge(tt.samples...)
			if tt.want == "" {
				if u.Failed || u.Reason != "" {
					t.Fatalf("Failed=%v Reason=%q; want not failed", u.Failed, u.Reason)
				}
				return
			}
			if !u.Failed || !strings.Contains(u.Reason, tt.want) {
				t.Fatalf("Failed=%v Reason=%q; want failed with %q", u.Failed, u.Reason, tt.want)
			}
		})
	}
}

func TestVerdictReportsStartAndEnd(t *testing.T) {
	end := svc("active", "running", "success", 2)
	end.MainPID, end.Since = 77, time.Unix(1700000000, 0)
	u := judge(svc("active", "running", "success", 0), end)
	if u.NRestartsStart != 0 || u.NRestartsEnd != 2 || u.MainPID != 77 || !u.Since.Equal(end.Since) ||
		u.ActiveState != "active" || u.SubState != "running" || u.Result != "success" {
		t.Errorf("got %+v", u)
	}
	if s := u.String(); !strings.Contains(s, "x.service: active (running) since 2023-11-14T22:13:20Z, main PID 77: FAILED: restarted 2 times") {
		t.Errorf("String() = %q", s)
	}
}

func TestDoomed(t *testing.T) {
	w := &watch{unit: "x.service"}
	w.observe(svc("active", "running", "success", 0))
	if w.doomed() {
		t.Fatal("a running unit is doomed")
	}
	w.observe(svc("activating", "auto-restart", "exit-code", 0))
	if !w.doomed() {
		t.Fatal("a unit seen in auto-restart is not doomed")
	}
	if allDoomed(nil) {
		t.Error("no units at all counts as all failed, which would end Settle before its first look")
	}
}
