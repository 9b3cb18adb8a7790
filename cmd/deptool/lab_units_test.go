package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
)

// copyDemo puts config-examples/demo into the operator's cluster dir.
func copyDemo(t *testing.T, op *operator) {
	t.Helper()
	src := "../../config-examples/demo"
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		dst := filepath.Join(op.root, "prod", rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func serving(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	out, err := l.Exec(host, "curl", "-s", "--max-time", "5", "http://127.0.0.1:8080/")
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(out)
}

func TestBrokenConfigRollsBackOnlyThatHost(t *testing.T) {
	l := lab.StartFresh(t, "web1", "web2", "db1")
	op := newOperator(t, l)
	copyDemo(t, op)
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("first deploy exited %d:\n%s", code, out)
	}
	for _, h := range []string{"web1", "web2"} {
		if got := serving(t, l, h); !strings.Contains(got, h+": version 1") {
			t.Fatalf("%s serves %q after the first deploy", h, got)
		}
	}

	for _, h := range []string{"web1", "web2"} {
		op.write(map[string]string{h + "/nginx/www/index.html": "<h1>" + h + ": version 2</h1>\n"})
	}
	conf := filepath.Join(op.root, "prod/web2/nginx/nginx.conf")
	good, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	op.write(map[string]string{"web2/nginx/nginx.conf": strings.Replace(string(good), "worker_connections 64;", "worker_connections 64", 1)})
	out, code := op.run("deploy", "--yes")
	if code != exitRolledBack || !strings.Contains(out, "web2  rolled back") || !strings.Contains(out, "web1  deployed") {
		t.Fatalf("deploy with a broken web2 exited %d, want %d:\n%s", code, exitRolledBack, out)
	}
	if got := serving(t, l, "web1"); !strings.Contains(got, "version 2") {
		t.Errorf("web1 serves %q, want version 2", got)
	}
	if got := serving(t, l, "web2"); !strings.Contains(got, "version 1") {
		t.Errorf("web2 serves %q after its rollback, want version 1", got)
	}
	if got := onHost(t, l, "web2", "systemctl is-active demo-nginx.service"); got != "active" {
		t.Errorf("web2 demo-nginx is %q after rollback", got)
	}
	if got := onHost(t, l, "web2", "grep -c 'worker_connections 64;' /var/lib/deptool/apps/nginx/current/nginx.conf"); got != "1" {
		t.Error("web2's current checkout is not the good version")
	}
	stat, _ := op.run("diff", "--stat")
	if !strings.Contains(stat, "web2/nginx/nginx.conf") || strings.Contains(stat, "web1/") {
		t.Errorf("diff --stat after the rollback should list only web2:\n%s", stat)
	}

	op.write(map[string]string{"web2/nginx/nginx.conf": string(good)})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("fixed deploy exited %d:\n%s", code, out)
	}
	if got := serving(t, l, "web2"); !strings.Contains(got, "version 2") {
		t.Errorf("web2 serves %q after the fix", got)
	}
}

func TestLateCrashIsCaughtAndRolledBack(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	unit := "[Service]\nExecStart=/bin/sh -c 'exec sleep infinity'\nRestart=on-failure\nRestartSec=500ms\n\n[Install]\nWantedBy=multi-user.target\n"
	op.write(map[string]string{
		"web1/svc/manifest.json":        `{"systemd": {"units_enabled": ["late.service"]}}`,
		"web1/svc/systemd/late.service": unit,
	})
	if out, code := op.run("deploy", "--yes"); code != 0 {
		t.Fatalf("first deploy exited %d:\n%s", code, out)
	}
	// The new version exits 0.8 s after start: its restart job is done and
	// it looks active at first, which a check at 300 ms would believe.
	op.write(map[string]string{"web1/svc/systemd/late.service": strings.Replace(unit, "exec sleep infinity", "sleep 0.8; exit 1", 1)})
	out, code := op.run("deploy", "--yes")
	if code != exitRolledBack || !strings.Contains(out, "late.service") {
		t.Fatalf("deploy of a late-crashing unit exited %d, want %d:\n%s", code, exitRolledBack, out)
	}
	if got := onHost(t, l, "web1", "systemctl is-active late.service; grep -c 'sleep infinity' /etc/systemd/system/late.service"); got != "active\n1" {
		t.Errorf("after rollback late.service state and unit file: %q", got)
	}
}
