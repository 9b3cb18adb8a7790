package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/store"
)

// run executes deptool in-process with args and returns stdout, stderr and
// the error Execute returned.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetIn(strings.NewReader(""))
	err := cmd.Execute()
	return stdout.String(), stderr.String(), err
}

// newCluster creates a store and a cluster dir holding files, and returns
// the cluster dir.
func newCluster(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	t.Setenv("DEPTOOL_STORE", filepath.Join(root, ".deptool"))
	dir := filepath.Join(root, "prod")
	if _, _, err := run(t, "init", dir); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, files)
	return dir
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var twoHosts = map[string]string{
	"web1/nginx/nginx.conf":               "worker_processes 1;\n",
	"web1/nginx/manifest.json":            `{"systemd": {"units_enabled": ["web.service"]}}`,
	"web1/nginx/systemd/web.service":      "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
	"db1/postgres/postgresql.conf":        "max_connections = 10\n",
	"db1/postgres/manifest.json":          `{"symlinks": {"/etc/postgresql/postgresql.conf": "postgresql.conf"}}`,
	"db1/postgres/systemd/backup.timer":   "[Timer]\nOnCalendar=daily\n",
	"db1/postgres/systemd/backup.service": "[Service]\nExecStart=/bin/true\n",
	"db1/postgres/sysusers/postgres.conf": "u postgres - \"PostgreSQL\"\n",
}

func TestInitSaysWhatItDid(t *testing.T) {
	root := t.TempDir()
	t.Setenv("DEPTOOL_STORE", filepath.Join(root, ".deptool"))
	out, _, err := run(t, "init", filepath.Join(root, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Initialized store at") || !strings.Contains(out, "recorded it as the default") {
		t.Errorf("init output:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(root, "prod")); err != nil || !fi.IsDir() {
		t.Errorf("cluster directory not created: %v", err)
	}
}

func TestPlanOnlyNamesHostsAppsFilesAndUnits(t *testing.T) {
	newCluster(t, twoHosts)
	out, _, err := run(t, "deploy", "--plan-only")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"web1\n    add nginx\n        + manifest.json\n        + nginx.conf\n",
		"enable unit web.service",
		"restart unit web.service",
		"db1\n    add postgres\n",
		"+ postgresql.conf",
		"link /etc/postgresql/postgresql.conf -> postgres/current/postgresql.conf",
		"link unit backup.timer",
		"Auto-rollback if deploy fails.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}

func TestDiffShowsFileContentsAndStatusSaysNewHost(t *testing.T) {
	newCluster(t, map[string]string{"web1/nginx/nginx.conf": "worker_processes 1;\n"})
	out, _, err := run(t, "diff")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "+++ b/web1/nginx/nginx.conf") || !strings.Contains(out, "+worker_processes 1;") {
		t.Errorf("diff output:\n%s", out)
	}
	out, _, err = run(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "web1") || !strings.Contains(out, "new host") || !strings.Contains(out, "nginx") {
		t.Errorf("status output:\n%s", out)
	}
}

func TestInvalidTreeIsRefusedWithItsPath(t *testing.T) {
	dir := newCluster(t, map[string]string{
		"web1/nginx/nginx.conf":    "x",
		"web1/nginx/manifest.json": `{"systemd": {"unit_enabled": ["x.service"]}}`,
	})
	_, _, err := run(t, "deploy", "--plan-only")
	if err == nil {
		t.Fatal("a manifest with a misspelt key was accepted")
	}
	want := filepath.Join(dir, "web1/nginx/manifest.json") + `: unknown key "unit_enabled"`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if _, _, err := run(t, "deploy", "--yes"); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("deploy --yes of an invalid tree: err = %v", err)
	}
	s, err := store.Open(os.Getenv("DEPTOOL_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	if id, ok, _ := s.Main(); ok {
		t.Errorf("an invalid tree was committed as %s", id)
	}
}

func TestDeployWithoutTerminalNeedsYes(t *testing.T) {
	newCluster(t, map[string]string{"web1/a/f": "1"})
	_, _, err := run(t, "deploy")
	if err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("deploy without a terminal: err = %v, want a refusal naming --yes", err)
	}
}

func TestLimitTakesRepeatedFlagsAndCommaLists(t *testing.T) {
	newCluster(t, map[string]string{"a/x/f": "1", "b/x/f": "2", "c/x/f": "3"})
	out, _, err := run(t, "deploy", "--plan-only", "--limit", "a,b", "--limit", "c")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "a, b, c (3 hosts)\n") {
		t.Errorf("plan lacks the hosts a, b, c:\n%s", out)
	}
	out, _, err = run(t, "deploy", "--plan-only", "--limit", "b")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "a\n") || !strings.Contains(out, "b\n") {
		t.Errorf("--limit b plan:\n%s", out)
	}
	if _, _, err := run(t, "deploy", "--plan-only", "--limit", "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown host in --limit: err = %v", err)
	}
}

func TestDirDefaultsToTheLastOneUsed(t *testing.T) {
	first := newCluster(t, map[string]string{"web1/a/f": "1"})
	second := filepath.Join(filepath.Dir(first), "staging")
	writeFiles(t, second, map[string]string{"stage1/a/f": "1"})
	if _, _, err := run(t, "status", second); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "stage1") {
		t.Errorf("status without <dir> after using %s:\n%s", second, out)
	}
}

func TestCommandReferenceIsUpToDate(t *testing.T) {
	dir := t.TempDir()
	if err := genDocs(dir); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadDir("../../docs/cmd")
	if err != nil {
		t.Fatalf("docs/cmd missing: run 'just docs': %v", err)
	}
	if len(committed) != len(want) {
		t.Errorf("docs/cmd has %d files, the CLI generates %d: run 'just docs'", len(committed), len(want))
	}
	for _, e := range want {
		gen, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		got, err := os.ReadFile(filepath.Join("../../docs/cmd", e.Name()))
		if err != nil || !bytes.Equal(gen, got) {
			t.Errorf("docs/cmd/%s is out of date: run 'just docs'", e.Name())
		}
	}
}

func TestRollbackRefusesBadTargetsBeforeContactingHosts(t *testing.T) {
	newCluster(t, map[string]string{"web1/a/f": "1"})
	s, err := store.Open(os.Getenv("DEPTOOL_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(store.EmptyTree, "empty", "op@x", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "rollback", "--to", "main", "--limit", "web1", "--yes"); err == nil || !strings.Contains(err.Error(), "no configuration for host web1") {
		t.Errorf("rollback to a commit without web1: err = %v", err)
	}
	if _, _, err := run(t, "rollback", "--to", "deadbeef", "--yes"); err == nil || !strings.Contains(err.Error(), "not a commit") {
		t.Errorf("rollback to an unknown REV: err = %v", err)
	}
	if _, _, err := run(t, "rollback", "--yes"); err == nil || !strings.Contains(err.Error(), "--to") {
		t.Errorf("rollback without a terminal and without --to: err = %v", err)
	}
}
