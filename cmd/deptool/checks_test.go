package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/ui"
)

func TestMalformedCheckIsRefusedBeforeConnecting(t *testing.T) {
	// web1 is not a reachable host: the refusal must come before any
	// connection is tried.
	dir := newCluster(t, map[string]string{
		"web1/nginx/nginx.conf":    "x",
		"web1/nginx/manifest.json": `{"checks": [{"tcp": "127.0.0.1:5432"}, {"http": "http://127.0.0.1:8080/", "timeout": "soon"}]}`,
	})
	_, _, err := run(t, "deploy", "--yes")
	want := filepath.Join(dir, "web1/nginx/manifest.json") + `: checks[1]: timeout "soon" is not a duration`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("deploy of a malformed check: err = %v, want %q", err, want)
	}
}

func TestPlanShowsChecks(t *testing.T) {
	newCluster(t, map[string]string{
		"web1/nginx/nginx.conf":    "x",
		"web1/nginx/manifest.json": `{"checks": [{"http": "http://127.0.0.1:8080/healthz", "timeout": "5s"}, {"tcp": "127.0.0.1:5432"}]}`,
	})
	out, _, err := run(t, "deploy", "--plan-only")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"check http://127.0.0.1:8080/healthz (5s)\n", "check tcp 127.0.0.1:5432 (10s)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}

func TestSummaryAndLogNameTheFailedCheck(t *testing.T) {
	h := deploy.HostResult{Host: "web1", Outcome: deploy.RolledBack, Error: "app nginx: check tcp 127.0.0.1:9: refused (for 1s)",
		Checks: []deploy.CheckReport{
			{App: "nginx", Check: "http://127.0.0.1:8080/", OK: true, Attempts: 1, Elapsed: 3 * time.Millisecond},
			{App: "nginx", Check: "tcp 127.0.0.1:9", Error: "dial tcp 127.0.0.1:9: connect: connection refused", Attempts: 4, Elapsed: time.Second},
		}}
	var b bytes.Buffer
	ui.PrintSummary(&b, &deploy.Result{Hosts: []deploy.HostResult{h}})
	for _, want := range []string{
		"  nginx: check http://127.0.0.1:8080/: ok (1 attempt in 0s)\n",
		"  nginx: check tcp 127.0.0.1:9: FAILED after 4 attempts in 1s: dial tcp 127.0.0.1:9: connect: connection refused\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	ui.PrintLog(&b, []deploy.Entry{{Hosts: []deploy.HostResult{h}, Recorded: true}}, false)
	if want := "    web1  rolled back: app nginx: check tcp 127.0.0.1:9: dial tcp 127.0.0.1:9: connect: connection refused\n"; !strings.Contains(b.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, b.String())
	}
}
