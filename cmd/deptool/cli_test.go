package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"

	"github.com/deptool/deptool/internal/storetest"
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
	if p, aerr := filepath.Abs(storePath()); aerr == nil {
		storetest.Fsck(t, p)
	}
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
	// Again: the store is there, and init says so.
	out, _, err = run(t, "init", filepath.Join(root, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "Initialized") || strings.Contains(out, "Created") || !strings.Contains(out, "already exists") {
		t.Errorf("init on an existing store:\n%s", out)
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

// Only init sets the default cluster: looking at another one does not
// change what a later plain deploy targets.
func TestOnlyInitSetsTheDefaultCluster(t *testing.T) {
	first := newCluster(t, map[string]string{"web1/a/f": "1"})
	second := filepath.Join(filepath.Dir(first), "staging")
	writeFiles(t, second, map[string]string{"stage1/a/f": "1"})
	if out, _, err := run(t, "status", second); err != nil || !strings.Contains(out, "stage1") {
		t.Fatalf("status %s: %v\n%s", second, err, out)
	}
	out, _, err := run(t, "deploy", "--plan-only")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "stage1") || !strings.Contains(out, "web1") {
		t.Errorf("deploy without <dir> after 'status %s' plans:\n%s", second, out)
	}
}

// The store is found from any directory inside the checkout, as Git finds
// .git.
func TestStoreIsFoundInAParentDirectory(t *testing.T) {
	dir := newCluster(t, map[string]string{"web1/a/f": "1"})
	store := os.Getenv("DEPTOOL_STORE")
	t.Setenv("DEPTOOL_STORE", "")
	os.Unsetenv("DEPTOOL_STORE")
	t.Chdir(filepath.Join(dir, "web1", "a"))
	if got, want := storePath(), store; got != want {
		t.Errorf("store found from %s: %s, want %s", filepath.Join(dir, "web1", "a"), got, want)
	}
	out, _, err := run(t, "status")
	if err != nil || !strings.Contains(out, "web1") {
		t.Errorf("status from inside the cluster: %v\n%s", err, out)
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

func TestVersionSaysReleaseCommitAndGo(t *testing.T) {
	out, _, err := run(t, "--version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"deptool " + wire.Version + " (commit ", ", build ", runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("--version lacks %q: %q", want, out)
		}
	}
}

// A host named wrong gets a suggestion, wherever it is named; and 'log'
// does not answer an unknown host with an empty history.
func TestUnknownHostsAreRefusedWithASuggestion(t *testing.T) {
	dir := newCluster(t, twoHosts)
	if _, _, err := run(t, "deploy", "--plan-only", "--limit", "wbe1"); err == nil || !strings.Contains(err.Error(), "did you mean web1?") {
		t.Errorf("--limit wbe1: %v", err)
	}
	s, err := store.Open(os.Getenv("DEPTOOL_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(snap.Tree, "deploy", "ann@laptop", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "log", "--limit", "nosuchhost"); err == nil || !strings.Contains(err.Error(), "unknown host nosuchhost") {
		t.Errorf("log --limit nosuchhost: %v", err)
	}
	if _, _, err := run(t, "log", "--limit", "db2"); err == nil || !strings.Contains(err.Error(), "did you mean db1?") {
		t.Errorf("log --limit db2: %v", err)
	}
	if _, _, err := run(t, "log", "--limit", "db1"); err != nil {
		t.Errorf("log --limit db1: %v", err)
	}
	if _, _, err := run(t, "rollback", "--to", "main", "--limit", "wbe1", "--yes"); err == nil || !strings.Contains(err.Error(), "did you mean web1?") {
		t.Errorf("rollback --limit wbe1: %v", err)
	}
	if _, _, err := run(t, "pin", "web2"); err == nil || strings.Contains(err.Error(), "[") {
		t.Errorf("pin of a host never deployed: %v", err)
	}
}

func TestPagerGetsLessFRXUnlessLessIsSet(t *testing.T) {
	if got := pagerEnv([]string{"PATH=/bin"}); !slices.Contains(got, "LESS=FRX") {
		t.Errorf("LESS unset: pager env %q", got)
	}
	if got := pagerEnv([]string{"LESS=-S"}); slices.Contains(got, "LESS=FRX") || !slices.Contains(got, "LESS=-S") {
		t.Errorf("LESS=-S: pager env %q", got)
	}
}

// status says a host is pinned, and, for a host whose last attempt did
// not deploy, how it ended and why.
func TestStatusShowsPinsAndTheLastFailedAttempt(t *testing.T) {
	dir := newCluster(t, twoHosts)
	s, err := store.Open(os.Getenv("DEPTOOL_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	id, err := s.Commit(snap.Tree, "deploy", "ann@laptop", when)
	if err != nil {
		t.Fatal(err)
	}
	note, _ := json.Marshal(deploy.Result{Deploy: id, Hosts: []deploy.HostResult{{Host: "web1", Outcome: deploy.RolledBack,
		Error: "unit web.service failed", Units: []deploy.UnitReport{{Unit: "web.service", Failed: true, Reason: "exited 1"}}}}})
	if err := s.RecordOutcomes(id, note, "ann@laptop", when); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin("db1", id); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	want := "last attempt " + id.Short() + " at 2026-03-01 12:00 +0000: rolled back: web.service: exited 1"
	if !strings.Contains(out, want) || !strings.Contains(out, "; pinned at "+id.String()[:7]+": deploys leave it alone") {
		t.Errorf("status lacks the pin or %q:\n%s", want, out)
	}
}

// deptool diff | head -1: the reader closed the pipe once it had what it
// wanted; deptool ends quietly, with 0.
func TestClosedPipeEndsQuietly(t *testing.T) {
	dir := longCluster(t, 200_000)
	cmd := exec.Command(deptoolBinary(t), "diff")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEPTOOL_STORE="+filepath.Join(dir, ".deptool"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line == "" {
		t.Fatalf("first line %q: %v", line, err)
	}
	out.Close()
	if err := cmd.Wait(); err != nil || stderr.Len() > 0 {
		t.Errorf("diff into a closed pipe: %v, stderr %q; want exit 0 and nothing said", err, stderr.String())
	}
}

// A command line deptool does not know is a usage error, exit 2, with a
// suggestion; "version" points at --version; help of a group still 0.
func TestUnknownCommandsExit2WithASuggestion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"secret", "foo"}, 2, `unknown command "foo" for "deptool secret"`},
		{[]string{"secret", "encrpt"}, 2, "did you mean encrypt?"},
		{[]string{"help", "nonexist"}, 2, `unknown command "nonexist" for "deptool"`},
		{[]string{"help", "depoy"}, 2, "did you mean deploy?"},
		{[]string{"foo"}, 2, `unknown command "foo"`},
		{[]string{"version"}, 2, "the version is 'deptool --version'"},
		{[]string{"secret", "encrypt", "web1", "-o", "json"}, 1, "to write a file named \"json\", use --out json"},
		{[]string{"help", "secret", "encrypt"}, 0, "--out"},
		{[]string{"secret"}, 0, "Available Commands:"},
	} {
		cmd := exec.Command(deptoolBinary(t), tc.args...)
		cmd.Env = append(os.Environ(), "DEPTOOL_STORE="+filepath.Join(t.TempDir(), ".deptool"))
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("deptool %s: exit %d, want %d and %q:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.want, out)
		}
	}
}

// Completion offers hosts and @groups for selections (after a comma too),
// hosts for a HOST argument, apps under a host for a secret's path, and
// deploy ids for rollback --to and pin.
func TestCompletionOffersHostsGroupsAppsAndDeploys(t *testing.T) {
	dir := ptyCluster(t)
	before := twoDeployedVersions(t, dir)
	writeFiles(t, filepath.Join(dir, "prod"), map[string]string{"web2/site/x": "1", "groups.json": `{"groups": {"edge": ["web2"]}}`})
	complete := func(args ...string) string {
		cmd := exec.Command(deptoolBinary(t), append([]string{"__complete"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DEPTOOL_STORE="+filepath.Join(dir, ".deptool"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("complete %q: %v", args, err)
		}
		return string(out)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"deploy", "--limit", "w"}, []string{"web1\n", "web2\n"}},
		{[]string{"status", "--limit", "web1,@"}, []string{"web1,@edge\n"}},
		{[]string{"deploy", "--canary", ""}, []string{"@edge\n", "web1\n", "web2\n"}},
		{[]string{"unpin", "web"}, []string{"web1\n", "web2\n"}},
		{[]string{"secret", "edit", "web1", ""}, []string{filepath.Join("prod", "web1", "site") + "/\n"}},
		{[]string{"rollback", "--to", ""}, []string{before.Short() + "\t"}},
		{[]string{"pin", "web1", ""}, []string{before.Short() + "\t"}},
	} {
		got := complete(tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("completing %q: no %q in\n%s", tc.args, w, got)
			}
		}
	}
}

// The command reference shows every command and every flag --help shows,
// global flags (--version) and the completion command included. Together
// with TestCommandReferenceIsUpToDate, docs/cmd matches --help.
func TestCommandReferenceMatchesHelp(t *testing.T) {
	dir := t.TempDir()
	if err := genDocs(dir); err != nil {
		t.Fatal(err)
	}
	flagName := regexp.MustCompile(`^\s+(?:-\w, )?--([\w-]+)`)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		path := strings.Fields(c.CommandPath())[1:]
		root := newRootCmd()
		var help bytes.Buffer
		root.SetOut(&help)
		root.SetArgs(append(path, "--help"))
		if err := root.Execute(); err != nil {
			t.Fatalf("%s --help: %v", c.CommandPath(), err)
		}
		page, err := os.ReadFile(filepath.Join(dir, strings.ReplaceAll(c.CommandPath(), " ", "_")+".md"))
		if err != nil {
			t.Errorf("%s: no page in the reference: %v", c.CommandPath(), err)
			return
		}
		for _, line := range strings.Split(help.String(), "\n") {
			if m := flagName.FindStringSubmatch(line); m != nil && !strings.Contains(string(page), "--"+m[1]) {
				t.Errorf("%s: --help shows --%s, the reference does not", c.CommandPath(), m[1])
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRootCmd()
	root.InitDefaultCompletionCmd()
	root.InitDefaultVersionFlag()
	walk(root)
	if _, err := os.Stat(filepath.Join(dir, "deptool_completion_bash.md")); err != nil {
		t.Errorf("no completion page: %v", err)
	}
}

// A problem in the recorded cluster directory names its path as the
// operator would type it, relative to where deptool runs.
func TestProblemsNameRelativePaths(t *testing.T) {
	dir := ptyCluster(t)
	writeFiles(t, filepath.Join(dir, "prod"), map[string]string{"web1/site/manifest.json": `{"systemd": {"unit_enabled": []}}`})
	cmd := exec.Command(deptoolBinary(t), "deploy", "--plan-only")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEPTOOL_STORE="+filepath.Join(dir, ".deptool"))
	out, _ := cmd.CombinedOutput()
	if want := "deptool: prod/web1/site/manifest.json: unknown key \"unit_enabled\""; !strings.HasPrefix(string(out), want) {
		t.Errorf("got %q, want it to start %q", out, want)
	}
}

// --version names the commit from -ldflags, else from what Go recorded,
// else says why it cannot.
func TestVersionNamesTheCommitOrWhyNot(t *testing.T) {
	defer func(c string) { commit = c }(commit)
	commit = "0123456789ab+changes"
	if got := versionLine(); !strings.Contains(got, "(commit 0123456789ab+changes, build ") {
		t.Errorf("with -X main.commit: %q", got)
	}
	commit = ""
	got := versionLine()
	if info, ok := debug.ReadBuildInfo(); ok && slices.ContainsFunc(info.Settings, func(s debug.BuildSetting) bool { return s.Key == "vcs.revision" }) {
		if strings.Contains(got, "unknown") {
			t.Errorf("Go recorded the revision, yet %q", got)
		}
	} else if !strings.Contains(got, "commit unknown: built without Git information") {
		t.Errorf("without any: %q", got)
	}
}
