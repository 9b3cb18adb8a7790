package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// identicalFleet is 40 web hosts deployed alike and changed alike, and a
// db host with a change of its own.
func identicalFleet(t *testing.T) (*store.Store, store.ID) {
	t.Helper()
	s := newStore(t)
	files := func(conf string) map[string]string {
		m := map[string]string{"db1/postgres/postgresql.conf": "max_connections = 100\n"}
		for i := 1; i <= 40; i++ {
			h := fmt.Sprintf("web%02d", i)
			m[h+"/nginx/nginx.conf"] = conf
			m[h+"/nginx/manifest.json"] = `{"systemd": {"units_enabled": ["nginx.service"]}}`
			m[h+"/nginx/systemd/nginx.service"] = "[Service]\nExecStart=/usr/sbin/nginx\n"
		}
		return m
	}
	v1 := files("worker_processes 1;\n")
	var hosts []string
	for p := range v1 {
		hosts = append(hosts, strings.Split(p, "/")[0])
	}
	recordDeploy(t, s, buildTree(t, s, v1), hosts...)
	v2 := files("worker_processes 4;\n")
	v2["db1/postgres/postgresql.conf"] = "max_connections = 200\n"
	return s, buildTree(t, s, v2)
}

func TestPrintPlanGroupsIdenticalHosts(t *testing.T) {
	s, tree := identicalFleet(t)
	p := mustPlan(t, s, tree, diff.PlanOptions{})
	got := renderPlan(t, p, false)
	want := `db1
    update postgres
        ~ postgresql.conf

web01..web40 (40 hosts)
    update nginx
        ~ nginx.conf
        restart unit nginx.service

Total: 41 hosts; apps: 0 added, 41 updated, 0 removed; 40 units restarted.

Auto-rollback if deploy fails.
`
	if got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	// JSON stays one entry per host, for pipelines.
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), `"host":`); n != 41 {
		t.Errorf("JSON plan has %d host entries, want 41", n)
	}
}

func TestPrintDiffGroupsIdenticalChanges(t *testing.T) {
	s, tree := identicalFleet(t)
	p := mustPlan(t, s, tree, diff.PlanOptions{})
	var b bytes.Buffer
	if err := PrintDiff(&b, s, p, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, "+worker_processes 4;"); n != 1 {
		t.Errorf("the shared change is shown %d times, want once:\n%s", n, out)
	}
	for _, want := range []string{"# web01..web40 (40 hosts): the same changes, shown for web01\n", "+++ b/web01/nginx/nginx.conf", "+++ b/db1/postgres/postgresql.conf"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := PrintStat(&b, s, p, false); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n > 8 {
		t.Errorf("stat of 41 hosts with two distinct changes is %d lines:\n%s", n, b.String())
	}
}

// A plan that differs between hosts in anything but the name is not
// grouped: here one host also restarts a second unit.
func TestPrintPlanKeepsDifferentHostsApart(t *testing.T) {
	plan := &diff.Plan{Hosts: []diff.HostPlan{
		{Host: "web1", Apps: []diff.AppPlan{{App: "a", Action: diff.Update, Units: []diff.UnitStep{{Op: diff.Restart, Unit: "a.service"}}}}},
		{Host: "web2", Apps: []diff.AppPlan{{App: "a", Action: diff.Update, Units: []diff.UnitStep{{Op: diff.Restart, Unit: "a.service"}}}}},
		{Host: "web3", Apps: []diff.AppPlan{{App: "a", Action: diff.Update, Units: []diff.UnitStep{{Op: diff.Restart, Unit: "a.service"}, {Op: diff.Restart, Unit: "b.service"}}}}},
	}}
	got := renderPlan(t, plan, false)
	for _, want := range []string{"web1, web2 (2 hosts)\n    update a\n        restart unit a.service\n\nweb3\n", "Total: 3 hosts; apps: 0 added, 3 updated, 0 removed; 4 units restarted."} {
		if !strings.Contains(got, want) {
			t.Errorf("plan:\n%s\nlacks:\n%s", got, want)
		}
	}
}

func TestCompactHosts(t *testing.T) {
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf("web%02d", i+1)
	}
	for _, tt := range []struct {
		hosts []string
		want  string
	}{
		{[]string{"db1"}, "db1"},
		{many, "web01..web40 (40 hosts)"},
		{[]string{"web10", "web9", "web8", "web11"}, "web8..web11 (4 hosts)"},
		{[]string{"web1", "web2", "web4"}, "web1, web2, web4 (3 hosts)"},
		{[]string{"web09", "web10", "web8"}, "web8, web09, web10 (3 hosts)"},
		{[]string{"a1.eu", "a2.eu", "a3.eu", "a1.us", "b"}, "a1.eu..a3.eu, a1.us, b (5 hosts)"},
		{[]string{"h1", "h3", "h5", "h7", "h9", "h11", "h13", "h15", "h17", "h19"}, "h1, h3, h5, h7, h9, h11, h13, h15 and 2 more (10 hosts)"},
	} {
		if got := CompactHosts(tt.hosts); got != tt.want {
			t.Errorf("CompactHosts(%q) = %q, want %q", tt.hosts, got, tt.want)
		}
	}
}

// expandRanges undoes hostRanges: every name of every first..last.
func expandRanges(t *testing.T, ranges []string) []string {
	var out []string
	for _, r := range ranges {
		first, last, ok := strings.Cut(r, "..")
		if !ok {
			out = append(out, r)
			continue
		}
		a, b := splitNumber(first), splitNumber(last)
		for n := a.n; n <= b.n; n++ {
			digits := fmt.Sprint(n)
			if len(a.digits) == len(b.digits) && len(digits) < len(a.digits) {
				digits = strings.Repeat("0", len(a.digits)-len(digits)) + digits
			}
			out = append(out, a.prefix+digits+a.suffix)
		}
	}
	return out
}

// Property: the ranges name exactly the hosts given, each once, for
// random fleets of numbered and unnumbered names.
func TestHostRangesNameEveryHostOnce(t *testing.T) {
	r := rand.New(rand.NewSource(40))
	for iter := range 3000 {
		set := map[string]bool{}
		for range r.Intn(30) {
			prefix := []string{"web", "db", "a1-", "edge"}[r.Intn(4)]
			suffix := []string{"", "", ".eu", "x"}[r.Intn(4)]
			format := []string{"%d", "%02d", "%03d"}[r.Intn(3)]
			set[prefix+fmt.Sprintf(format, r.Intn(120))+suffix] = true
			if r.Intn(10) == 0 {
				set[prefix] = true
			}
		}
		hosts := slices.Sorted(maps.Keys(set))
		got := expandRanges(t, hostRanges(hosts))
		slices.Sort(got)
		if !slices.Equal(got, hosts) {
			t.Fatalf("iteration %d: ranges %v of %v name %v", iter, hostRanges(hosts), hosts, got)
		}
	}
}
