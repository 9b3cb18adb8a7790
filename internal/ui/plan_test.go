package ui

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/deptool/deptool/diff"
)

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
