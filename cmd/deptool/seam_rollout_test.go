package main

// The rollout as the command shows it (plan, JSON stream, summary, exit
// status, what stays pending), on simulated hosts: the operator's logic
// without root. That hosts really apply, roll back and get contacted over
// SSH and systemd is the lab tests' part.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff/layout"
	"github.com/deptool/deptool/internal/simhost"
)

// simUnit starts and stays up; broken, the simulated systemd fails its
// start job (simsystemd's X-Sim-FailStart), as a unit running /bin/false
// would.
const (
	simUnit       = "[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=multi-user.target\n"
	simBrokenUnit = "[Service]\nExecStart=/bin/false\nX-Sim-FailStart=yes\n\n[Install]\nWantedBy=multi-user.target\n"
)

// svcVersion writes version of app svc for host, with a unit that starts
// or, when broken, fails.
func svcVersion(host, version string, broken bool) map[string]string {
	unit := simUnit
	if broken {
		unit = simBrokenUnit
	}
	return map[string]string{
		host + "/svc/manifest.json":       `{"systemd": {"units_enabled": ["dta.service"]}}`,
		host + "/svc/systemd/dta.service": unit,
		host + "/svc/dtest.conf":          version + "\n",
	}
}

// simVersion is the version of svc a simulated host runs.
func simVersion(t *testing.T, f *simhost.Fleet, host string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.Host(host).Root, layout.StateDir, "apps/svc/current/dtest.conf"))
	if err != nil {
		return fmt.Sprintf("none (%v)", err)
	}
	return strings.TrimSpace(string(b))
}

// exitCode is the exit status main would give err.
func exitCode(err error) int {
	var e *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.code
	default:
		return exitFailure
	}
}

// event is the part of a --output json event the tests read.
type event struct {
	Event    string         `json:"event"`
	Host     string         `json:"host"`
	Outcome  string         `json:"outcome"`
	Error    string         `json:"error"`
	Phase    string         `json:"phase"`
	Unit     string         `json:"unit"`
	Failed   bool           `json:"failed"`
	ExitCode int            `json:"exit_code"`
	Outcomes map[string]int `json:"outcomes"`
	Rollout  *struct {
		Stages []struct {
			Name  string   `json:"name"`
			Hosts []string `json:"hosts"`
		} `json:"stages"`
	} `json:"rollout"`
}

// parseEvents reads a JSON event stream strictly: every line one object
// with an event kind.
func parseEvents(t *testing.T, stream string) []event {
	t.Helper()
	var events []event
	sc := bufio.NewScanner(strings.NewReader(stream))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e event
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		if err := dec.Decode(&e); err != nil || dec.More() || e.Event == "" {
			t.Fatalf("not one JSON event per line: %q (%v)\nstream:\n%s", sc.Text(), err, stream)
		}
		events = append(events, e)
	}
	return events
}

func outcomesOf(events []event) map[string]event {
	out := map[string]event{}
	for _, e := range events {
		if e.Event == "outcome" {
			out[e.Host] = e
		}
	}
	return out
}

// checkStreamShape checks a deploy's stream: a plan first, phases and
// units before their host's outcome, and a summary whose counts match
// the outcomes. (The error event main adds after it when the deploy
// failed is TestJSONStreamEndsWithTheErrorAndExitCode's.)
func checkStreamShape(t *testing.T, events []event, exit int) {
	t.Helper()
	if len(events) == 0 || events[0].Event != "plan" {
		t.Fatalf("stream does not start with the plan: %+v", events)
	}
	done := map[string]bool{}
	counts := map[string]int{}
	var summary *event
	for i, e := range events {
		switch e.Event {
		case "phase", "unit", "check":
			if done[e.Host] {
				t.Errorf("%s event for %s after its outcome", e.Event, e.Host)
			}
		case "outcome":
			done[e.Host] = true
			counts[e.Outcome]++
		case "summary":
			summary = &events[i]
		}
	}
	if summary == nil {
		t.Fatal("no summary event")
	}
	if summary.ExitCode != exit || len(summary.Outcomes) != len(counts) {
		t.Errorf("summary %+v, want exit %d and outcomes %v", summary, exit, counts)
	}
	for o, n := range counts {
		if summary.Outcomes[o] != n {
			t.Errorf("summary counts %d %s, the stream has %d", summary.Outcomes[o], o, n)
		}
	}
}

// A stream that ends in an error says so in its last line, with the exit
// status: main writes it, so the binary runs here.
func TestJSONStreamEndsWithTheErrorAndExitCode(t *testing.T) {
	dir := newCluster(t, twoHosts)
	cmd := exec.Command(deptoolBinary(t), "deploy", "--yes", "--output", "json", "--canary", "web9", dir)
	cmd.Env = append(os.Environ(), "DEPTOOL_STORE="+storePath())
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Fatalf("deploy --canary web9: %v, want exit %d:\n%s", err, exitFailure, out)
	}
	events := parseEvents(t, string(out))
	if last := events[len(events)-1]; last.Event != "error" || last.ExitCode != exitFailure || !strings.Contains(last.Error, "canary web9") {
		t.Errorf("last event %+v, want an error naming canary web9 with exit code %d", last, exitFailure)
	}
}

// A failing canary rolls back and the rest are never contacted; batches of
// one stop after the batch that failed; fixed, the stream reports every
// host deployed. Was the lab test TestRolloutStopsAtTheFirstFailure.
func TestSeamRolloutStopsAtTheFirstFailure(t *testing.T) {
	hosts := []string{"web1", "web2", "web3"}
	f := simHosts(t, hosts...)
	dir := newCluster(t, nil)
	for _, h := range hosts {
		writeFiles(t, dir, svcVersion(h, "v1", false))
	}
	if out, stderr, err := run(t, "deploy", "--yes", "--settle", "0s", dir); err != nil {
		t.Fatalf("v1: %v:\n%s%s", err, out, stderr)
	}

	// A failing canary: web1 rolls back, web2 and web3 are never touched.
	writeFiles(t, dir, svcVersion("web1", "v2", true))
	writeFiles(t, dir, svcVersion("web2", "v2", false))
	writeFiles(t, dir, svcVersion("web3", "v2", false))
	plan, _, err := run(t, "deploy", "--plan-only", "--canary", "web1", "--output", "json", dir)
	var doc event
	if jerr := json.Unmarshal([]byte(plan), &doc); err != nil || jerr != nil || doc.Event != "plan" || doc.Rollout == nil || len(doc.Rollout.Stages) != 2 {
		t.Fatalf("deploy --plan-only --output json: %v, is not one plan with two stages (%v):\n%s", err, jerr, plan)
	}
	sessions := map[string]int{}
	for _, h := range hosts {
		sessions[h] = f.Host(h).Sessions()
	}
	stream, _, err := run(t, "deploy", "--yes", "--settle", "0s", "--canary", "web1", "--output", "json", dir)
	if code := exitCode(err); code != deploy.ExitRolledBack {
		t.Fatalf("canary deploy exited %d (%v), want %d:\n%s", code, err, deploy.ExitRolledBack, stream)
	}
	events := parseEvents(t, stream)
	outcomes := outcomesOf(events)
	for h, o := range map[string]string{"web1": "rolled back", "web2": "skipped", "web3": "skipped"} {
		if outcomes[h].Outcome != o {
			t.Errorf("%s: outcome %q in the stream, want %q", h, outcomes[h].Outcome, o)
		}
	}
	for _, h := range hosts {
		if got := simVersion(t, f, h); got != "v1" {
			t.Errorf("%s runs %s after the canary failed, want v1", h, got)
		}
	}
	for _, h := range []string{"web2", "web3"} {
		if got := f.Host(h).Sessions(); got != sessions[h] {
			t.Errorf("%s was contacted after the canary failed", h)
		}
	}
	checkStreamShape(t, events, deploy.ExitRolledBack)
	if out, _, _ := run(t, "diff", "--stat", dir); !strings.Contains(out, "web2") || !strings.Contains(out, "web3") || !strings.Contains(out, "web1") {
		t.Errorf("diff --stat after the failed canary does not show every host pending:\n%s", out)
	}

	// Batches of one, the second failing: the third is never touched.
	writeFiles(t, dir, svcVersion("web1", "v2", false))
	writeFiles(t, dir, svcVersion("web2", "v2", true))
	sessions["web3"] = f.Host("web3").Sessions()
	out, stderr, err := run(t, "deploy", "--yes", "--settle", "0s", "--batch", "1", dir)
	if code := exitCode(err); code != deploy.ExitRolledBack || !strings.Contains(out, "web3  skipped") || !strings.Contains(out, "batch 2 of 3") {
		t.Fatalf("--batch 1 exited %d, want %d with web3 skipped after batch 2 of 3:\n%s%s", code, deploy.ExitRolledBack, out, stderr)
	}
	for h, v := range map[string]string{"web1": "v2", "web2": "v1", "web3": "v1"} {
		if got := simVersion(t, f, h); got != v {
			t.Errorf("%s runs %s after --batch 1, want %s", h, got, v)
		}
	}
	if f.Host("web3").Sessions() != sessions["web3"] {
		t.Errorf("web3 was contacted after batch 2 failed")
	}

	// Fixed, the same stream reports every host deployed, and it matches.
	writeFiles(t, dir, svcVersion("web2", "v2", false))
	stream, _, err = run(t, "deploy", "--yes", "--settle", "0s", "--batch", "50%", "--output", "json", dir)
	if err != nil {
		t.Fatalf("fixed deploy: %v:\n%s", err, stream)
	}
	events = parseEvents(t, stream)
	if len(outcomesOf(events)) != 2 {
		t.Errorf("fixed deploy reports %d hosts, want web2 and web3:\n%s", len(outcomesOf(events)), stream)
	}
	for h, e := range outcomesOf(events) {
		if e.Outcome != "deployed" || simVersion(t, f, h) != "v2" {
			t.Errorf("%s: stream says %q, host runs %s", h, e.Outcome, simVersion(t, f, h))
		}
	}
	checkStreamShape(t, events, 0)
}

// A fleet of 40: a group selects the hosts it names (and only they are
// contacted), the plan of 40 identical hosts fits a screen, and a rollout
// in batches of two with --max-fail 2 goes on past two broken hosts,
// deploying every good host up to the third broken one, where it stops:
// the hosts after it are skipped and stay on v1, their change pending.
// Was the lab test TestFleetSelectionPlansAndFailureBudget (40 booted
// hosts); the live display of such a rollout is progress_test's.
func TestSeamFleetSelectionPlansAndFailureBudget(t *testing.T) {
	var hosts []string
	for i := 1; i <= 40; i++ {
		hosts = append(hosts, fmt.Sprintf("fleet%02d", i))
	}
	f := simHosts(t, hosts...)
	dir := newCluster(t, map[string]string{"groups.json": `{"groups": {"edge": ["fleet0[1-3]", "fleet40"]}}`})
	for _, h := range hosts {
		writeFiles(t, dir, svcVersion(h, "v1", false))
	}
	plan, _, err := run(t, "deploy", "--plan-only", dir)
	if err != nil || strings.Count(plan, "\n") > 20 || !strings.HasPrefix(plan, "fleet01..fleet40 (40 hosts)\n") {
		t.Fatalf("plan for 40 identical hosts: %v, %d lines:\n%s", err, strings.Count(plan, "\n"), plan)
	}
	// The selection reaches exactly the hosts it names.
	out, stderr, err := run(t, "deploy", "--yes", "--settle", "0s", "--limit", "@edge", dir)
	if err != nil || !strings.Contains(out, "Deployed 4 of 4 hosts") {
		t.Fatalf("v1 to @edge: %v:\n%s%s", err, out, stderr)
	}
	var contacted []string
	for _, h := range hosts {
		if f.Host(h).Sessions() > 0 {
			contacted = append(contacted, h)
		}
	}
	if want := []string{"fleet01", "fleet02", "fleet03", "fleet40"}; !slices.Equal(contacted, want) {
		t.Errorf("--limit @edge contacted %v, want %v", contacted, want)
	}
	if out, stderr, err := run(t, "deploy", "--yes", "--settle", "0s", dir); err != nil || !strings.Contains(out, "Deployed 36 of 36 hosts") {
		t.Fatalf("v1 to the other 36 hosts: %v:\n%s%s", err, out, stderr)
	}

	broken := map[string]bool{"fleet05": true, "fleet12": true, "fleet30": true}
	for _, h := range hosts {
		writeFiles(t, dir, svcVersion(h, "v2", broken[h]))
	}
	plan, _, err = run(t, "deploy", "--plan-only", "--batch", "2", "--max-fail", "2", dir)
	if err != nil || strings.Count(plan, "\n") > 24 || !strings.Contains(plan, "20 batches of 2: fleet01..fleet40 (40 hosts)") ||
		!strings.Contains(plan, "more than 2 hosts have not deployed (--max-fail 2)") {
		t.Fatalf("staged plan: %v (%d lines):\n%s", err, strings.Count(plan, "\n"), plan)
	}
	out, stderr, err = run(t, "deploy", "--yes", "--settle", "0s", "--batch", "2", "--max-fail", "2", dir)
	if code := exitCode(err); code != deploy.ExitRolledBack {
		t.Fatalf("v2 with three broken hosts exited %d (%v), want %d:\n%s%s", code, err, deploy.ExitRolledBack, out, stderr)
	}
	// Batch 15 (fleet29, fleet30) holds the third failure: fleet31 on
	// are skipped.
	for _, want := range []string{
		"Deployed 27 of 40 hosts", "3 rolled back", "10 skipped",
		"fleet31..fleet40 (10 hosts)", "skipped: not attempted: the rollout stopped after batch 15 of 20, with fleet05, fleet12, fleet30 not deployed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for i, h := range hosts {
		want := "v2"
		if broken[h] || i >= 30 {
			want = "v1"
		}
		if got := simVersion(t, f, h); got != want {
			t.Errorf("%s runs %s, want %s", h, got, want)
		}
	}
	if st, _, _ := run(t, "diff", "--stat", "--limit", "fleet3[1-9],fleet40", dir); !strings.Contains(st, "fleet31..fleet40 (10 hosts): the same changes") {
		t.Errorf("diff --stat of the skipped hosts:\n%s", st)
	}
}

// Two stores deploy one host: the second's plan is stale, refused without
// touching the host, and the host's commit fetched, so that its next plan
// changes only what differs and deploys. Was the lab test
// TestStalePlanIsRefusedAndFetched.
func TestSeamStalePlanIsRefusedAndFetched(t *testing.T) {
	f := simHosts(t, "web1")
	operator := func(files map[string]string) (deploy func(args ...string) (string, error)) {
		root := t.TempDir()
		dir := filepath.Join(root, "prod")
		return func(args ...string) (string, error) {
			t.Setenv("DEPTOOL_STORE", filepath.Join(root, ".deptool"))
			if _, err := os.Stat(dir); err != nil {
				if _, stderr, err := run(t, "init", dir); err != nil {
					t.Fatalf("init: %v: %s", err, stderr)
				}
				writeFiles(t, dir, files)
			}
			out, stderr, err := run(t, append(args, dir)...)
			return out + stderr, err
		}
	}
	alice := operator(map[string]string{"web1/site/a": "alice\n", "web1/site/b": "same\n"})
	bob := operator(map[string]string{"web1/site/a": "bob\n", "web1/site/b": "same\n"})
	current := func() string {
		b, _ := os.ReadFile(filepath.Join(f.Host("web1").Root, layout.StateDir, "apps/site/current/a"))
		return strings.TrimSpace(string(b))
	}
	if out, err := alice("deploy", "--yes"); err != nil {
		t.Fatalf("alice's deploy: %v:\n%s", err, out)
	}
	out, err := bob("deploy", "--yes")
	if code := exitCode(err); code != exitHostFailed || !strings.Contains(out, "stale") || !strings.Contains(out, "run 'deptool deploy' again") {
		t.Fatalf("bob's stale deploy exited %d:\n%s", code, out)
	}
	if got := current(); got != "alice" {
		t.Errorf("a stale plan changed the host: a = %q", got)
	}
	plan, _ := bob("deploy", "--plan-only")
	if !strings.Contains(plan, "update site") || !strings.Contains(plan, "~ a") || strings.Contains(plan, "b\n") {
		t.Errorf("bob's plan after the fetch should update only a:\n%s", plan)
	}
	if out, err := bob("deploy", "--yes"); err != nil {
		t.Fatalf("bob's second deploy: %v:\n%s", err, out)
	}
	if got := current(); got != "bob" {
		t.Errorf("after bob's re-run a = %q", got)
	}
}
