package ui

import (
	"crypto/sha1"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

func idOf(s string) store.ID { return store.ID(sha1.Sum([]byte(s))) }

var when = time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)

func fleet(n int) []string {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = hostName(i+1, n)
	}
	return hosts
}

// status, log, sync, check and ping fit the budget for 40 or 10,000
// healthy hosts, and --verbose still lists every host.
func TestDay2BudgetsForHealthyFleets(t *testing.T) {
	for _, n := range []int{40, 10000} {
		hosts := fleet(n)
		deployCommit := idOf("deploy")
		var statuses []diff.HostStatus
		var results []deploy.HostResult
		var syncs []deploy.SyncResult
		var checks []deploy.CheckResult
		var pings []deploy.PingResult
		for i, h := range hosts {
			statuses = append(statuses, diff.HostStatus{Host: h, Deployed: when, Operator: "alice@laptop", Commit: deployCommit})
			results = append(results, deploy.HostResult{Host: h, Outcome: deploy.Deployed, Commit: idOf(h)})
			syncs = append(syncs, deploy.SyncResult{Host: h, Before: idOf(h), Current: idOf(h)})
			checks = append(checks, deploy.CheckResult{Host: h, Current: idOf(h),
				Checks: []deploy.CheckReport{{App: "nginx", Check: "http://127.0.0.1/", OK: true, Attempts: 1, Elapsed: time.Duration(i) * time.Millisecond}}})
			rtt := time.Duration(300+i%50) * time.Microsecond
			pings = append(pings, deploy.PingResult{Host: h, Connect: 40 * time.Millisecond, RTTs: []time.Duration{rtt, rtt + time.Microsecond}})
		}
		pings[n/2].RTTs = []time.Duration{90 * time.Millisecond}
		outputs := map[string]func(verbose bool) string{
			"status": func(v bool) string {
				var b strings.Builder
				if err := PrintStatus(&b, statuses, false, v); err != nil {
					t.Fatal(err)
				}
				return b.String()
			},
			"log": func(v bool) string {
				var b strings.Builder
				PrintLog(&b, []deploy.Entry{{Commit: deployCommit, Time: when, Operator: "alice@laptop", Message: "deploy to all", Hosts: results, Recorded: true}}, v)
				return b.String()
			},
			"sync": func(v bool) string {
				var b strings.Builder
				PrintSyncs(&b, syncs, false, v)
				return b.String()
			},
			"check": func(v bool) string {
				var b strings.Builder
				PrintCheckResults(&b, checks, v)
				return b.String()
			},
			"ping": func(v bool) string {
				var b strings.Builder
				PrintPings(&b, pings, v)
				return b.String()
			},
		}
		for name, out := range outputs {
			text := out(false)
			if got := lines(text); got > budget {
				t.Errorf("%s of %d healthy hosts: %d lines, budget %d:\n%s", name, n, got, budget, text)
			}
			if v := out(true); !strings.Contains(v, hosts[n-1]+" ") || lines(v) < n {
				t.Errorf("%s --verbose of %d hosts: %d lines", name, n, lines(v))
			}
		}
		if text := outputs["ping"](false); !strings.Contains(text, "slowest: "+hosts[n/2]+" (p50 90.00ms)") {
			t.Errorf("ping does not name the slow host:\n%s", text)
		}
	}
}

// The shapes of the grouped day-2 outputs, at 40 hosts.
func TestDay2Golden(t *testing.T) {
	hosts := fleet(40)
	deployCommit := idOf("deploy")
	var statuses []diff.HostStatus
	var results []deploy.HostResult
	var syncs []deploy.SyncResult
	var checks []deploy.CheckResult
	for i, h := range hosts {
		st := diff.HostStatus{Host: h, Deployed: when, Operator: "alice@laptop", Commit: deployCommit}
		r := deploy.HostResult{Host: h, Outcome: deploy.Deployed}
		s := deploy.SyncResult{Host: h, Before: idOf(h), Current: idOf(h)}
		c := deploy.CheckResult{Host: h, Current: idOf(h)}
		switch {
		case i >= 36:
			st.Undeployed = []string{"motd"}
			st.Attempt = &diff.Attempt{Commit: idOf("later"), Time: when.Add(time.Hour), Outcome: "failed", Why: fmt.Sprintf("app motd: symlink /etc/motd: a regular file is in the way (sha256 %012x)", i*7919)}
			r.Outcome, r.Error = deploy.Skipped, "not attempted: the rollout stopped after batch 2 of 7, with web03 not deployed"
			s = deploy.SyncResult{Host: h, Error: fmt.Sprintf("ssh: connect to %s: connection refused", h)}
			c.Drift = []deploy.Drift{{App: "motd", Kind: "file", Path: "motd", What: fmt.Sprintf("changed (sha256 %012x)", i)}}
		case i == 2:
			r.Outcome, r.Error = deploy.RolledBack, "unit nginx.service failed"
			r.Units = []deploy.UnitReport{{Unit: "nginx.service", Failed: true, Reason: "exit-code"}}
		}
		statuses, results, syncs, checks = append(statuses, st), append(results, r), append(syncs, s), append(checks, c)
	}
	var b strings.Builder
	if err := PrintStatus(&b, statuses, false, false); err != nil {
		t.Fatal(err)
	}
	PrintLog(&b, []deploy.Entry{{Commit: deployCommit, Time: when, Operator: "alice@laptop", Message: "deploy to all", Hosts: results, Recorded: true}}, false)
	PrintSyncs(&b, syncs, false, false)
	PrintCheckResults(&b, checks, false)
	want := `web01..web36 (36 hosts)  deployed 2026-12-07 20:00 +0000 by alice@laptop, commit b0d51b9ff91b; up to date
web37..web40 (4 hosts)   deployed 2026-12-07 20:00 +0000 by alice@laptop, commit b0d51b9ff91b; undeployed changes: motd
                         last attempt 3f14ecc8cc77 at 2026-12-07 21:00 +0000: failed: app motd: symlink /etc/motd: a regular file is in the way (sha256 00000004599c) (as on web37)
commit b0d51b9ff91b  2026-12-07 20:00:00 +0000  alice@laptop
    deploy to all
    web01, web02, web04..web36 (35 hosts)  deployed
    web03                                  rolled back: nginx.service: exit-code
    web37..web40 (4 hosts)                 skipped: not attempted: the rollout stopped after batch 2 of 7, with web03 not deployed
web01..web36 (36 hosts)  up to date
web37..web40 (4 hosts)   error: ssh: connect to web37: connection refused
Synced 40 hosts: 36 up to date, 4 could not be synced.
web01..web36 (36 hosts)  ok
web37..web40 (4 hosts)   1 problem (as on web37)
                         motd: file motd: changed (sha256 000000000024)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// Host strings reach the day-2 outputs escaped.
func TestDay2EscapesHostStrings(t *testing.T) {
	evil := "\033]0;TITLE\007\033[2JFAKE"
	var b strings.Builder
	PrintSyncs(&b, []deploy.SyncResult{{Host: "a", Error: evil}}, false, false)
	PrintCheckResults(&b, []deploy.CheckResult{{Host: "a", Error: evil}, {Host: "b", Current: idOf("b"), Drift: []deploy.Drift{{What: evil}}}}, false)
	PrintPings(&b, []deploy.PingResult{{Host: "a", Error: evil}}, false)
	PrintLog(&b, []deploy.Entry{{Operator: evil, Message: evil, Hosts: []deploy.HostResult{{Host: "a", Outcome: deploy.Failed, Error: evil}}}}, false)
	if err := PrintStatus(&b, []diff.HostStatus{{Host: "a", Operator: evil, Deployed: when, Attempt: &diff.Attempt{Why: evil}}}, false, false); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\033\007") {
		t.Errorf("raw control characters: %q", b.String())
	}
	if got := strings.Count(b.String(), `\x1b]0;TITLE\x07\x1b[2JFAKE`); got != 9 {
		t.Errorf("%d escaped copies, want 9:\n%s", got, b.String())
	}
}

// A healthy host alone shows its commit and its checks; healthy hosts
// together, one line that counts the checks.
func TestCheckShowsAHostsChecksWhenAlone(t *testing.T) {
	c := deploy.CheckResult{Host: "web1", Current: idOf("web1"), Checks: []deploy.CheckReport{{App: "svc", Check: "tcp 127.0.0.1:22", OK: true, Attempts: 1}}}
	var b strings.Builder
	PrintCheckResults(&b, []deploy.CheckResult{c}, false)
	if want := "web1  ok at " + idOf("web1").String()[:12] + "\n      svc: check tcp 127.0.0.1:22: ok (1 attempt in 0s)\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	d := c
	d.Host = "web2"
	b.Reset()
	PrintCheckResults(&b, []deploy.CheckResult{c, d}, false)
	if want := "web1, web2 (2 hosts)  ok, 1 health check passed on each\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
