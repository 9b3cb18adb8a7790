package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

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
	deploy(t, s, buildTree(t, s, v1), hosts...)
	v2 := files("worker_processes 4;\n")
	v2["db1/postgres/postgresql.conf"] = "max_connections = 200\n"
	return s, buildTree(t, s, v2)
}

func TestRenderPlanGroupsIdenticalHosts(t *testing.T) {
	s, tree := identicalFleet(t)
	p := mustPlan(t, s, tree, PlanOptions{})
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

func TestRenderDiffGroupsIdenticalChanges(t *testing.T) {
	s, tree := identicalFleet(t)
	p := mustPlan(t, s, tree, PlanOptions{})
	var b bytes.Buffer
	if err := RenderDiff(&b, s, p, false); err != nil {
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
	if err := RenderStat(&b, s, p, false); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n > 8 {
		t.Errorf("stat of 41 hosts with two distinct changes is %d lines:\n%s", n, b.String())
	}
}

// A plan that differs between hosts in anything but the name is not
// grouped: here one host also restarts a second unit.
func TestRenderPlanKeepsDifferentHostsApart(t *testing.T) {
	plan := &Plan{Hosts: []HostPlan{
		{Host: "web1", Apps: []AppPlan{{App: "a", Action: Update, Units: []UnitStep{{Op: Restart, Unit: "a.service"}}}}},
		{Host: "web2", Apps: []AppPlan{{App: "a", Action: Update, Units: []UnitStep{{Op: Restart, Unit: "a.service"}}}}},
		{Host: "web3", Apps: []AppPlan{{App: "a", Action: Update, Units: []UnitStep{{Op: Restart, Unit: "a.service"}, {Op: Restart, Unit: "b.service"}}}}},
	}}
	got := renderPlan(t, plan, false)
	for _, want := range []string{"web1, web2 (2 hosts)\n    update a\n        restart unit a.service\n\nweb3\n", "Total: 3 hosts; apps: 0 added, 3 updated, 0 removed; 4 units restarted."} {
		if !strings.Contains(got, want) {
			t.Errorf("plan:\n%s\nlacks:\n%s", got, want)
		}
	}
}
