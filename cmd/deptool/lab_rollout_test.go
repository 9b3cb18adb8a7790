package main

import (
	"bufio"
	"encoding/json"
	"github.com/deptool/deptool/deploy"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
)

// badUnit fails its start job at once, so even --settle 0s catches it.
const badUnit = "[Service]\nType=oneshot\nExecStart=/bin/false\n\n[Install]\nWantedBy=multi-user.target\n"

// svcVersion writes version of app svc for host, with a unit that starts
// or, when broken, fails.
func svcVersion(host, version string, broken bool) map[string]string {
	unit := goodUnit
	if broken {
		unit = badUnit
	}
	return map[string]string{
		host + "/svc/manifest.json":       `{"systemd": {"units_enabled": ["dta.service"]}}`,
		host + "/svc/systemd/dta.service": unit,
		host + "/svc/dtest.conf":          version + "\n",
	}
}

// runningVersion is the version of svc a host runs.
func runningVersion(t *testing.T, l *lab.Lab, host string) string {
	return onHost(t, l, host, "cat /var/lib/deptool/apps/svc/current/dtest.conf")
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

func TestRolloutStopsAtTheFirstFailure(t *testing.T) {
	hosts := []string{"web1", "web2", "web3"}
	l := lab.StartFresh(t, hosts...)
	op := newOperator(t, l)
	for _, h := range hosts {
		op.write(svcVersion(h, "v1", false))
	}
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}

	// A failing canary: web1 rolls back, web2 and web3 are never touched.
	op.write(svcVersion("web1", "v2", true))
	op.write(svcVersion("web2", "v2", false))
	op.write(svcVersion("web3", "v2", false))
	plan, code := op.stdout("deploy", "--plan-only", "--canary", "web1", "--output", "json")
	var doc event
	if err := json.Unmarshal([]byte(plan), &doc); code != 0 || err != nil || doc.Event != "plan" || doc.Rollout == nil || len(doc.Rollout.Stages) != 2 {
		t.Fatalf("deploy --plan-only --output json exited %d, is not one plan with two stages (%v):\n%s", code, err, plan)
	}
	journals := map[string]string{}
	for _, h := range hosts {
		journals[h] = journalLines(t, l, h)
	}
	stream, code := op.stdout("deploy", "--yes", "--settle", "0s", "--canary", "web1", "--output", "json")
	if code != deploy.ExitRolledBack {
		t.Fatalf("canary deploy exited %d, want %d:\n%s", code, deploy.ExitRolledBack, stream)
	}
	events := parseEvents(t, stream)
	outcomes := outcomesOf(events)
	want := map[string]string{"web1": "rolled back", "web2": "skipped", "web3": "skipped"}
	for h, o := range want {
		if outcomes[h].Outcome != o {
			t.Errorf("%s: outcome %q in the stream, want %q", h, outcomes[h].Outcome, o)
		}
	}
	// The stream agrees with the hosts: nobody runs v2, web2 and web3
	// were never contacted.
	for _, h := range hosts {
		if got := runningVersion(t, l, h); got != "v1" {
			t.Errorf("%s runs %s after the canary failed, want v1", h, got)
		}
	}
	for _, h := range []string{"web2", "web3"} {
		if got := journalLines(t, l, h); got != journals[h] {
			t.Errorf("%s's journal went from %s to %s lines: it was contacted", h, journals[h], got)
		}
	}
	checkStreamShape(t, events, deploy.ExitRolledBack)
	if out, _ := op.run("diff", "--stat"); !strings.Contains(out, "web2") || !strings.Contains(out, "web3") || !strings.Contains(out, "web1") {
		t.Errorf("diff --stat after the failed canary does not show every host pending:\n%s", out)
	}

	// Batches of one, the second failing: the third is never touched.
	op.write(svcVersion("web1", "v2", false))
	op.write(svcVersion("web2", "v2", true))
	journals["web3"] = journalLines(t, l, "web3")
	out, code := op.run("deploy", "--yes", "--settle", "0s", "--batch", "1")
	if code != deploy.ExitRolledBack || !strings.Contains(out, "web3  skipped") || !strings.Contains(out, "batch 2 of 3") {
		t.Fatalf("--batch 1 exited %d, want %d with web3 skipped after batch 2 of 3:\n%s", code, deploy.ExitRolledBack, out)
	}
	for h, v := range map[string]string{"web1": "v2", "web2": "v1", "web3": "v1"} {
		if got := runningVersion(t, l, h); got != v {
			t.Errorf("%s runs %s after --batch 1, want %s", h, got, v)
		}
	}
	if got := journalLines(t, l, "web3"); got != journals["web3"] {
		t.Errorf("web3 was contacted after batch 2 failed")
	}

	// Fixed, the same stream reports every host deployed, and it matches.
	op.write(svcVersion("web2", "v2", false))
	stream, code = op.stdout("deploy", "--yes", "--settle", "0s", "--batch", "50%", "--output", "json")
	if code != 0 {
		t.Fatalf("fixed deploy exited %d:\n%s", code, stream)
	}
	events = parseEvents(t, stream)
	for h, e := range outcomesOf(events) {
		if e.Outcome != "deployed" || runningVersion(t, l, h) != "v2" {
			t.Errorf("%s: stream says %q, host runs %s", h, e.Outcome, runningVersion(t, l, h))
		}
	}
	checkStreamShape(t, events, 0)
}

// checkStreamShape checks a deploy's stream: a plan first, phases and
// units before their host's outcome, a summary whose counts match the
// outcomes, and an error event last when the deploy failed.
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
	last := events[len(events)-1]
	if exit != 0 && (last.Event != "error" || last.ExitCode != exit) {
		t.Errorf("last event %+v, want an error with exit code %d", last, exit)
	}
}

func TestBrokenSSHRevertsByItself(t *testing.T) {
	l := lab.StartFresh(t, "web1")
	op := newOperator(t, l)
	// The app reloads sshd whenever its config changes, as a real one
	// would; v1 is harmless.
	sshApp := func(conf string) map[string]string {
		return map[string]string{
			"web1/sshd/manifest.json": `{"systemd": {"units_enabled": ["dt-sshd-reload.service"]},
			                            "symlinks": {"/etc/ssh/sshd_config.d/50-deptool-test.conf": "deptool-test.conf"}}`,
			"web1/sshd/systemd/dt-sshd-reload.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/systemctl reload ssh.service\n\n[Install]\nWantedBy=multi-user.target\n",
			"web1/sshd/deptool-test.conf":              conf,
		}
	}
	op.write(sshApp("# nothing yet\n"))
	if out, code := op.run("deploy", "--yes", "--settle", "0s"); code != 0 {
		t.Fatalf("v1 exited %d:\n%s", code, out)
	}
	// v2 locks root out: the deploy's own connection lives on, but no new
	// one gets in, so nobody can confirm and the host must undo it alone.
	op.write(sshApp("DenyUsers root\n"))
	out, code := op.run("deploy", "--yes", "--settle", "1s", "--confirm-timeout", "3s")
	if code != deploy.ExitRolledBack || !strings.Contains(out, "web1  rolled back: not confirmed") {
		t.Fatalf("deploy locking root out exited %d, want %d and 'rolled back: not confirmed':\n%s", code, deploy.ExitRolledBack, out)
	}
	// Reachable again, on the old config, and it says why.
	if got := onHost(t, l, "web1", "cat /etc/ssh/sshd_config.d/50-deptool-test.conf; tail -1 /var/lib/deptool/journal.jsonl"); !strings.HasPrefix(got, "# nothing yet\n") || !strings.Contains(got, "rolled back") || !strings.Contains(got, "not confirmed") {
		t.Errorf("web1 after the unconfirmed deploy:\n%s", got)
	}
	if out, code := op.run("ping", "-c", "1"); code != 0 {
		t.Errorf("ping after the revert exited %d:\n%s", code, out)
	}
	if out, _ := op.run("diff", "--stat"); !strings.Contains(out, "web1") {
		t.Errorf("the reverted change is not pending:\n%s", out)
	}
}
