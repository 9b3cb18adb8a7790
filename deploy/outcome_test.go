package deploy

import (
	"encoding/json"
	"testing"
)

func TestExitRanksOutcomes(t *testing.T) {
	for _, tc := range []struct {
		outcomes []Outcome
		want     int
	}{
		{[]Outcome{Deployed, Deployed}, ExitOK},
		{[]Outcome{Deployed, Skipped}, ExitHostFailed},   // interrupted before every host
		{[]Outcome{RolledBack, Skipped}, ExitRolledBack}, // a rollout stopped by a rollback
		{[]Outcome{RolledBack, Busy}, ExitHostFailed},
		{[]Outcome{Abandoned, Deployed}, ExitHostFailed},
		{[]Outcome{Failed, RollbackFailed, RolledBack}, ExitRollbackFailed},
	} {
		var res Result
		for i, o := range tc.outcomes {
			res.Hosts = append(res.Hosts, HostResult{Host: string(rune('a' + i)), Outcome: o})
		}
		code, why := res.Exit()
		if code != tc.want || (code == ExitOK) != (why == nil) {
			t.Errorf("%v: exit %d (%v), want %d", tc.outcomes, code, why, tc.want)
		}
	}
}

// Notes and journals written before one spelling was chosen read as
// today's outcomes.
func TestOutcomeReadsOldSpellings(t *testing.T) {
	var h HostResult
	if err := json.Unmarshal([]byte(`{"host":"web1","outcome":"rolled_back"}`), &h); err != nil || h.Outcome != RolledBack {
		t.Errorf("rolled_back read as %q (%v)", h.Outcome, err)
	}
	if err := json.Unmarshal([]byte(`{"host":"web1","outcome":"rolled back"}`), &h); err != nil || h.Outcome != RolledBack {
		t.Errorf("rolled back read as %q (%v)", h.Outcome, err)
	}
}

func TestWhyNamesFailedUnitsAndChecksFirst(t *testing.T) {
	h := HostResult{Outcome: RolledBack, Error: "app web: systemd: restart web.service: job did not complete",
		Units:  []UnitReport{{Unit: "web.service", Failed: true, Reason: "restart: job did not complete"}, {Unit: "web.service", Failed: true, AfterRollback: true, Reason: "x"}},
		Checks: []CheckReport{{App: "web", Check: "tcp 127.0.0.1:9", Error: "refused"}}}
	if got, want := h.Why(), "web.service: restart: job did not complete; app web: check tcp 127.0.0.1:9: refused"; got != want {
		t.Errorf("Why = %q, want %q", got, want)
	}
	if got := (HostResult{Outcome: Deployed, Detail: "found on the host"}).Why(); got != "found on the host" {
		t.Errorf("Why of a found deploy = %q", got)
	}
}
