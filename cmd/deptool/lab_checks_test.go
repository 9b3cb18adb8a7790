package main

import (
	"github.com/deptool/deptool/deploy"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
)

// TestHealthChecksGateTheDeploy: the demo nginx's HTTP check passes and
// lets the deploy through; then a TCP check against a closed port rolls the
// host back, and every record of it names the check.
func TestHealthChecksGateTheDeploy(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	copyDemo(t, op)
	for _, h := range []string{"web2", "db1"} {
		if err := os.RemoveAll(filepath.Join(op.root, "prod", h)); err != nil {
			t.Fatal(err)
		}
	}

	out, code := op.run("deploy", "--yes", "--settle", "500ms")
	if code != 0 || !strings.Contains(out, "nginx: check http://127.0.0.1:8080/: ok") {
		t.Fatalf("deploy of the demo nginx with its HTTP check exited %d:\n%s", code, out)
	}
	if got := serving(t, l, "web1"); !strings.Contains(got, "web1: version 1") {
		t.Fatalf("web1 serves %q", got)
	}
	current := onHost(t, l, "web1", "git --git-dir /var/lib/deptool/store rev-parse current")

	op.write(map[string]string{
		"web1/nginx/www/index.html": "<h1>web1: version 2</h1>\n",
		"web1/probe/manifest.json":  `{"checks": [{"tcp": "127.0.0.1:9", "timeout": "1s"}]}`,
	})
	out, code = op.run("deploy", "--yes", "--settle", "500ms")
	if code != deploy.ExitRolledBack || !strings.Contains(out, "web1  rolled back") ||
		!strings.Contains(out, "probe: check tcp 127.0.0.1:9: FAILED after") ||
		!strings.Contains(out, "app probe: check tcp 127.0.0.1:9: dial tcp 127.0.0.1:9: connect: connection refused (for 1s)") {
		t.Fatalf("deploy with a failing TCP check exited %d, want %d:\n%s", code, deploy.ExitRolledBack, out)
	}
	if got := onHost(t, l, "web1", "git --git-dir /var/lib/deptool/store rev-parse current"); got != current {
		t.Errorf("web1's current moved from %s to %s although the check failed", current, got)
	}
	if got := serving(t, l, "web1"); !strings.Contains(got, "version 1") {
		t.Errorf("web1 serves %q after the rollback, want version 1", got)
	}
	if got := onHost(t, l, "web1", "tail -1 /var/lib/deptool/journal.jsonl"); !strings.Contains(got, `"outcome":"rolled back"`) ||
		!strings.Contains(got, `"failed_checks":["probe: tcp 127.0.0.1:9: dial tcp 127.0.0.1:9: connect: connection refused"]`) {
		t.Errorf("web1's journal does not record the failed check: %s", got)
	}
	if stat, _ := op.run("diff", "--stat"); !strings.Contains(stat, "web1/probe/manifest.json") || !strings.Contains(stat, "web1/nginx/www/index.html") {
		t.Errorf("diff --stat after the rollback should show the change pending:\n%s", stat)
	}
	if log, _ := op.run("log", "-n", "1"); !strings.Contains(log, "web1  rolled back: app probe: check tcp 127.0.0.1:9: dial tcp") {
		t.Errorf("log does not name the failed check:\n%s", log)
	}
}
