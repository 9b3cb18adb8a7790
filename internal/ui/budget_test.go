package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
)

// budget is the most lines a grouped output may take, whatever the size
// of the fleet, when every host says the same thing.
const budget = 15

func lines(s string) int { return strings.Count(s, "\n") }

func hostName(i, n int) string {
	if n > 99 {
		return fmt.Sprintf("web%05d", i)
	}
	return fmt.Sprintf("web%02d", i)
}

// motdConflict is the failure of issue 28: the same file in the way on
// every host, differing only in the hash of what is there.
func motdConflict(n int) *deploy.Result {
	res := &deploy.Result{Elapsed: 4 * time.Second}
	for i := 1; i <= n; i++ {
		res.Hosts = append(res.Hosts, deploy.HostResult{Host: hostName(i, n), Outcome: deploy.Failed, Elapsed: time.Second,
			Error: fmt.Sprintf("nothing was changed on the host:\napp motd: symlink /etc/motd: a regular file is in the way (sha256 %012x), not one deptool made; move it away or add it to the app", i*7919)})
	}
	return res
}

// identicalRollbacks is the same nginx failure on n hosts: the same
// journal up to PIDs, times and host names, seen again after rollback.
func identicalRollbacks(n int) *deploy.Result {
	res := &deploy.Result{Elapsed: 9 * time.Second}
	for i := 1; i <= n; i++ {
		h := hostName(i, n)
		var journal []string
		for j := 0; j < 10; j++ {
			journal = append(journal, fmt.Sprintf("Dec 07 20:13:%02d %s nginx[%d]: 2026/12/07 20:13:%02d [emerg] %d#%d: unknown directive \"lisen\" in /etc/nginx/conf.d/site.conf:%d", j, h, 1000+i*10+j, j, 1000+i, 1000+i, j+3))
		}
		res.Hosts = append(res.Hosts, deploy.HostResult{Host: h, Outcome: deploy.RolledBack, Error: "unit nginx.service failed",
			Units: []deploy.UnitReport{
				{Unit: "nginx.service", State: "failed", Failed: true, Reason: "exit-code", Journal: journal},
				{Unit: "nginx.service", State: "active/running", MainPID: uint32(2000 + i), Since: time.Date(2026, 12, 7, 20, 14, i%60, 0, time.UTC), AfterRollback: true, Journal: journal},
			}})
	}
	return res
}

// Every host failing for one reason is one entry, at 40 hosts as at
// 10,000: the reason once, an example of the detail, the hosts and their
// count; --verbose lists each.
func TestSummaryBudgetOneReason(t *testing.T) {
	for _, n := range []int{40, 10000} {
		var b strings.Builder
		PrintSummary(&b, motdConflict(n))
		if got := lines(b.String()); got > budget {
			t.Errorf("%d hosts failing alike: %d lines, budget %d:\n%s", n, got, budget, b.String())
		}
		if !strings.Contains(b.String(), fmt.Sprintf("(%d hosts)  failed: nothing was changed on the host:", n)) {
			t.Errorf("%d hosts: no grouped entry:\n%s", n, b.String())
		}
		var v strings.Builder
		PrintSummaryEach(&v, motdConflict(n))
		if got := strings.Count(v.String(), "failed: nothing was changed"); got != n {
			t.Errorf("verbose summary names %d hosts, want %d", got, n)
		}
	}
}

func TestSummaryGroupsIdenticalRollbacks(t *testing.T) {
	var b strings.Builder
	PrintSummary(&b, identicalRollbacks(5))
	want := `
web01..web05 (5 hosts)  rolled back: unit nginx.service failed
                        as on web01:
                        nginx.service: failed; FAILED: exit-code
                          | (4 earlier lines: --verbose shows them)
                          | Dec 07 20:13:04 web01 nginx[1014]: 2026/12/07 20:13:04 [emerg] 1001#1001: unknown directive "lisen" in /etc/nginx/conf.d/site.conf:7
`
	if !strings.HasPrefix(b.String(), want) {
		t.Errorf("summary:\n%s\nwant it to start:\n%s", b.String(), want)
	}
	// The excerpt after the rollback repeats the one before: not shown.
	if got := strings.Count(b.String(), "unknown directive"); got != journalBrief {
		t.Errorf("%d journal lines, want the last %d once:\n%s", got, journalBrief, b.String())
	}
	for _, n := range []int{5, 10000} {
		b.Reset()
		PrintSummary(&b, identicalRollbacks(n))
		if got := lines(b.String()); got > budget {
			t.Errorf("%d identical rollbacks: %d lines:\n%s", n, got, b.String())
		}
	}
}

// Two reasons are two entries, and a host that failed differently keeps
// its own.
func TestSummaryKeepsDifferentReasonsApart(t *testing.T) {
	res := identicalRollbacks(4)
	res.Hosts[2].Units[0].Reason = "signal"
	var b strings.Builder
	PrintSummary(&b, res)
	for _, want := range []string{"web01, web02, web04 (3 hosts)  rolled back", "\nweb03                          rolled back"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// A unit's output reaches the terminal with its control characters
// visible: it cannot set the title, clear the screen or fake a line.
func TestSummaryEscapesHostStrings(t *testing.T) {
	evil := "\033]0;TITLE\007\033[2J\033[31mFAKE: all hosts deployed"
	res := &deploy.Result{Hosts: []deploy.HostResult{{Host: "web1", Outcome: deploy.RolledBack, Error: evil,
		Units:  []deploy.UnitReport{{Unit: "x.service", State: "failed", Failed: true, Reason: evil, Journal: []string{evil}}},
		Checks: []deploy.CheckReport{{App: "x", Check: "http", Error: evil, Attempts: 1}}}}}
	var b strings.Builder
	PrintSummary(&b, res)
	if strings.ContainsAny(b.String(), "\033\007") {
		t.Errorf("raw control characters in the summary: %q", b.String())
	}
	if got := strings.Count(b.String(), `\x1b]0;TITLE\x07\x1b[2J\x1b[31mFAKE`); got != 4 {
		t.Errorf("%d escaped copies, want 4:\n%s", got, b.String())
	}
}

func TestCountLineShowsSmallCleanUps(t *testing.T) {
	for freed, want := range map[int64]string{0: "in 0s.", 12_000: "freed 12 kB of", 3_400_000: "freed 3.4 MB of"} {
		var b strings.Builder
		PrintSummary(&b, &deploy.Result{Hosts: []deploy.HostResult{{Host: "a", Outcome: deploy.Deployed, Freed: freed}}})
		if !strings.Contains(b.String(), want) || strings.Contains(b.String(), "0.0 MB") {
			t.Errorf("freed %d: %q, want %q", freed, b.String(), want)
		}
	}
}
