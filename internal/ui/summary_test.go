package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
)

// The summary of a large fleet groups hosts that ended alike, keeps a
// failed host's units and journal on its own entry, and ends with the
// count; a label longer than the column overflows it rather than pushing
// every line right.
func TestSummaryGroupsHostsByOutcome(t *testing.T) {
	res := &deploy.Result{Elapsed: 3 * time.Second}
	for i := 1; i <= 40; i++ {
		h := deploy.HostResult{Host: fmt.Sprintf("web%02d", i), Outcome: deploy.Deployed,
			Units: []deploy.UnitReport{{Unit: "nginx.service", State: "active/running", MainPID: uint32(100 + i)}}}
		switch {
		case i == 7:
			h.Outcome, h.Error = deploy.RolledBack, "host web07: rolled back: unit nginx.service failed"
			h.Units = []deploy.UnitReport{{Unit: "nginx.service", State: "failed", Failed: true, Reason: "exit-code", Journal: []string{"bad config"}}}
		case i > 36:
			h.Outcome, h.Units = deploy.Skipped, nil
			h.Error = "not attempted: the rollout stopped after batch 3 of 20, with web07 not deployed; nothing changed here and the change stays pending"
		}
		res.Hosts = append(res.Hosts, h)
	}
	var b strings.Builder
	PrintSummary(&b, res)
	want := `
web01..web06, web08..web36 (35 hosts)  deployed
web37..web40 (4 hosts)            skipped: not attempted: the rollout stopped after batch 3 of 20, with web07 not deployed; nothing changed here and the change stays pending
web07                             rolled back: unit nginx.service failed
                                  nginx.service: failed; FAILED: exit-code
                                    | bad config

Deployed 35 of 40 hosts in 3s; 1 rolled back, 4 skipped.
`
	if b.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", b.String(), want)
	}
}

// A host alone keeps the summary it always had: its line, its units.
func TestSummaryOfOneHostShowsItsUnits(t *testing.T) {
	res := &deploy.Result{Hosts: []deploy.HostResult{{Host: "web1", Outcome: deploy.Deployed, Units: []deploy.UnitReport{{Unit: "a.service", State: "active/running", MainPID: 42}}}}}
	var b strings.Builder
	PrintSummary(&b, res)
	if want := "\nweb1  deployed\n      a.service: active/running, main PID 42\n\nDeployed 1 of 1 hosts in 0s.\n"; b.String() != want {
		t.Errorf("summary %q, want %q", b.String(), want)
	}
}

// A few hosts keep a line each, as they always had.
func TestSummaryOfAFewHostsListsEach(t *testing.T) {
	res := &deploy.Result{Hosts: []deploy.HostResult{{Host: "m13", Outcome: deploy.Deployed}, {Host: "m12", Outcome: deploy.RolledBack, Error: "unit x failed"}, {Host: "m11", Outcome: deploy.Deployed}}}
	var b strings.Builder
	PrintSummary(&b, res)
	if want := "\nm11  deployed\nm12  rolled back: unit x failed\nm13  deployed\n\nDeployed 2 of 3 hosts in 0s; 1 rolled back.\n"; b.String() != want {
		t.Errorf("summary %q, want %q", b.String(), want)
	}
}
