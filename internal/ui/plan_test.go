package ui

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// scenario is a store where v1 is deployed to web1, db1 and gone1, and a
// desired tree that changes web1, keeps db1, adds web2 and drops gone1.
func scenario(t testing.TB) (*store.Store, store.ID) {
	t.Helper()
	s := newStore(t)
	v1 := map[string]file{
		"web1/nginx/nginx.conf":            {data: "user nginx;\nworker_processes 1;\nevents {}\n"},
		"web1/nginx/manifest.json":         {data: `{"systemd": {"units_enabled": ["nginx.service"]}, "symlinks": {"/etc/nginx/nginx.conf": "nginx.conf"}}` + "\n"},
		"web1/nginx/systemd/nginx.service": {data: "[Service]\nExecStart=/usr/sbin/nginx\n"},
		"web1/nginx/run.sh":                {data: "#!/bin/sh\nexec nginx\n"},
		"web1/nginx/logo.png":              {data: "\x89PNG\x00\x01\x02"},
		"web1/old/cleanup.sh":              {data: "#!/bin/sh\n", exec: true},
		"web1/old/manifest.json":           {data: `{"systemd": {"units_enabled": ["cleanup.timer"]}, "checks": [{"tcp": "127.0.0.1:9"}]}`},
		"web1/old/systemd/cleanup.timer":   {data: "[Timer]\nOnCalendar=daily\n"},
		"web1/old/systemd/cleanup.service": {data: "[Service]\nExecStart=/bin/true\n"},
		"db1/postgres/postgresql.conf":     {data: "max_connections = 100\n"},
		"gone1/app/f":                      {data: "x\n"},
	}
	recordDeploy(t, s, buildFiles(t, s, v1), "web1", "db1", "gone1")
	v2 := map[string]file{
		"web1/nginx/nginx.conf":                          {data: "user nginx;\nworker_processes 4;\nevents {}\n"},
		"web1/nginx/mime.types":                          {data: "types {\n  text/html html;\n}\n"},
		"web1/nginx/manifest.json":                       {data: `{"systemd": {"units_enabled": ["nginx.service"]}, "symlinks": {"/etc/nginx/nginx.conf": "nginx.conf", "/etc/nginx/mime.types": "mime.types"}}` + "\n"},
		"web1/nginx/systemd/nginx.service":               {data: "[Service]\nExecStart=/usr/sbin/nginx\n"},
		"web1/nginx/systemd/nginx.service.d/limits.conf": {data: "[Service]\nLimitNOFILE=65536\n"},
		"web1/nginx/run.sh":                              {data: "#!/bin/sh\nexec nginx\n", exec: true},
		"web1/nginx/logo.png":                            {data: "\x89PNG\x00\x01\x02\x03"},
		"web1/caddy/Caddyfile":                           {data: "example.com {\n  root * /srv\n}\n"},
		"web1/caddy/manifest.json":                       {data: `{"systemd": {"units_enabled": ["caddy.service"]}, "checks": [{"http": "http://127.0.0.1:80/", "timeout": "5s"}, {"tcp": "127.0.0.1:443"}]}`},
		"web1/caddy/systemd/caddy.service":               {data: "[Service]\nUser=caddy\n"},
		"web1/caddy/sysusers/caddy.conf":                 {data: "u caddy - \"Caddy\"\n"},
		"db1/postgres/postgresql.conf":                   {data: "max_connections = 100\n"},
		"web2/cache/quadlets/cache.container":            {data: "[Container]\nImage=redis\n"},
	}
	return s, buildFiles(t, s, v2)
}

func renderPlan(t *testing.T, p *diff.Plan, color bool) string {
	t.Helper()
	var b bytes.Buffer
	if err := PrintPlan(&b, p, color); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPrintPlanMatchesDeptoolsExample(t *testing.T) {
	s := newStore(t)
	files := map[string]string{
		"web1/nginx/nginx.conf":            "a",
		"web1/nginx/manifest.json":         `{"systemd": {"units_enabled": ["nginx.service"]}}`,
		"web1/nginx/systemd/nginx.service": "[Service]\n",
	}
	recordDeploy(t, s, buildTree(t, s, files), "web1")
	files["web1/nginx/nginx.conf"] = "b"
	got := renderPlan(t, mustPlan(t, s, buildTree(t, s, files), diff.PlanOptions{}), false)
	want := "web1\n    update nginx\n        ~ nginx.conf\n        restart unit nginx.service\n\nAuto-rollback if deploy fails.\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrintPlanGolden(t *testing.T) {
	s, tree := scenario(t)
	golden(t, "plan", renderPlan(t, mustPlan(t, s, tree, diff.PlanOptions{}), false))
	golden(t, "plan-color", renderPlan(t, mustPlan(t, s, tree, diff.PlanOptions{}), true))
	golden(t, "plan-no-rollback", renderPlan(t, mustPlan(t, s, tree, diff.PlanOptions{NoRollback: true, Limit: []string{"web2"}}), false))
}

func TestPrintEmptyPlan(t *testing.T) {
	got := renderPlan(t, &diff.Plan{}, true)
	if got != "Nothing to deploy: every host is up to date.\n" {
		t.Errorf("got %q", got)
	}
}

func TestPrintPlanColorsOnlyWhenAsked(t *testing.T) {
	s, tree := scenario(t)
	p := mustPlan(t, s, tree, diff.PlanOptions{})
	if plain := renderPlan(t, p, false); strings.Contains(plain, "\x1b[") {
		t.Error("plain plan contains escape codes")
	}
	colored := renderPlan(t, p, true)
	for _, want := range []string{green + "+ Caddyfile" + reset, yellow + "~ nginx.conf" + reset, red + "- cleanup.sh" + reset} {
		if !strings.Contains(colored, want) {
			t.Errorf("coloured plan lacks %q", want)
		}
	}
}

func TestPlanJSONGolden(t *testing.T) {
	s, tree := scenario(t)
	data, err := json.MarshalIndent(mustPlan(t, s, tree, diff.PlanOptions{}), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-json", string(data)+"\n")
}

func TestPrintDiffGolden(t *testing.T) {
	s, tree := scenario(t)
	p := mustPlan(t, s, tree, diff.PlanOptions{})
	var b bytes.Buffer
	if err := PrintDiff(&b, s, p, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	golden(t, "diff", out)
	for _, want := range []string{
		"--- a/web1/nginx/nginx.conf\n+++ b/web1/nginx/nginx.conf\n",
		"-worker_processes 1;\n+worker_processes 4;\n",
		"Binary files a/web1/nginx/logo.png and b/web1/nginx/logo.png differ",
		"+++ b/web2/cache/quadlets/cache.container",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q", want)
		}
	}
	if strings.Contains(out, "db1") {
		t.Error("diff mentions db1, which is up to date")
	}
}

func TestPrintStatGolden(t *testing.T) {
	s, tree := scenario(t)
	p := mustPlan(t, s, tree, diff.PlanOptions{})
	var b bytes.Buffer
	if err := PrintStat(&b, s, p, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "stat", b.String())
}

func TestStatSummaryFollowsGit(t *testing.T) {
	for _, tt := range []struct {
		files, adds, dels int
		want              string
	}{
		{1, 1, 1, " 1 file changed, 1 insertion(+), 1 deletion(-)"},
		{2, 3, 0, " 2 files changed, 3 insertions(+)"},
		{2, 0, 2, " 2 files changed, 2 deletions(-)"},
		{1, 0, 0, " 1 file changed, 0 insertions(+), 0 deletions(-)"},
	} {
		if got := statSummary(tt.files, tt.adds, tt.dels); got != tt.want {
			t.Errorf("statSummary(%d, %d, %d) = %q, want %q", tt.files, tt.adds, tt.dels, got, tt.want)
		}
	}
	if got := scaleBar(1, 1000); got != 1 {
		t.Errorf("a one-line change in a huge stat shows %d marks, want 1", got)
	}
	if got := scaleBar(1000, 1000); got != statBarWidth {
		t.Errorf("the largest change shows %d marks, want %d", got, statBarWidth)
	}
}

func TestStatusGolden(t *testing.T) {
	s, tree := scenario(t)
	hosts, err := diff.Status(s, tree, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := PrintStatus(&b, hosts, false, true); err != nil {
		t.Fatal(err)
	}
	golden(t, "status", b.String())
}
