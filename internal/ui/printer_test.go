package ui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// kinds reads a JSON event stream and returns each line's event kind.
func kinds(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var ev struct {
			Event string `json:"event"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		got = append(got, ev.Event)
	}
	return got
}

// One call, two forms: the text a person reads and the events a program
// reads say the same things, and neither carries the other's extras.
func TestPrinterShowsTheSameThingsAsTextAndJSON(t *testing.T) {
	hosts := []diff.HostStatus{{Host: "web1", New: true}, {Host: "web2", New: true}}
	remote := &RemoteStatus{URL: "git@example.org:ops", Reached: true}
	drifted := []deploy.CheckResult{{Host: "web1", Current: store.ID{1}, Drift: []deploy.Drift{{App: "nginx", Kind: "file", Path: "nginx.conf", What: "changed"}}}}
	for _, c := range []struct {
		name      string
		print     func(*Printer) error
		text      []string // lines the text has, in order
		notInText string
		events    []string
	}{
		{"status", func(p *Printer) error { return p.Status(hosts, remote) },
			[]string{"web1, web2 (2 hosts)  new host; no apps yet", "remote git@example.org:ops, just now: in step"}, "", []string{"status", "status", "remote"}},
		{"check", func(p *Printer) error { return p.Check(drifted) },
			[]string{"web1  1 problem at 0100000", "    nginx: file nginx.conf: changed", "'deptool repair' puts back what drifted"}, "", []string{"drift"}},
		{"repair", func(p *Printer) error { return p.Drift(drifted) },
			[]string{"web1  1 problem at 0100000"}, "deptool repair", []string{"drift"}},
		{"journal", func(p *Printer) error {
			return p.Journal([]deploy.JournalEntry{{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Operator: "alice\x1b[2J", Outcome: deploy.RolledBack, Error: "unit a.service failed\nsee journal"}})
		}, []string{`2026-01-02 03:04:05 +0000  rolled back      alice\x1b[2J  deploy 000000000000  unit a.service failed\nsee journal`}, "", []string{"journal"}},
	} {
		var text, js strings.Builder
		if err := c.print(NewPrinter(&text, false, false, false)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := c.print(NewPrinter(&js, true, false, false)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		rest := text.String()
		for _, want := range c.text {
			i := strings.Index(rest, want)
			if i < 0 {
				t.Errorf("%s: text lacks %q (in order):\n%s", c.name, want, text.String())
				break
			}
			rest = rest[i+len(want):]
		}
		if c.notInText != "" && strings.Contains(text.String(), c.notInText) {
			t.Errorf("%s: text says %q:\n%s", c.name, c.notInText, text.String())
		}
		if got := kinds(t, js.String()); strings.Join(got, " ") != strings.Join(c.events, " ") {
			t.Errorf("%s: events %v, want %v:\n%s", c.name, got, c.events, js.String())
		}
	}
}

// A healthy fleet is told nothing about repair; JSON never is.
func TestCheckAdvisesRepairOnlyOnDrift(t *testing.T) {
	var b strings.Builder
	if err := NewPrinter(&b, false, false, false).Check([]deploy.CheckResult{{Host: "web1", Current: store.ID{1}}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "repair") {
		t.Errorf("a healthy host is told to repair:\n%s", b.String())
	}
	b.Reset()
	if err := NewPrinter(&b, false, false, false).NothingToRepair(); err != nil || b.String() != "Nothing to repair: no host drifted from its recorded version.\n" {
		t.Errorf("NothingToRepair: %q, %v", b.String(), err)
	}
	b.Reset()
	if err := NewPrinter(&b, true, false, false).NothingToRepair(); err != nil || b.String() != "" {
		t.Errorf("NothingToRepair in JSON: %q, %v", b.String(), err)
	}
}

func TestPrintVersions(t *testing.T) {
	when := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	entries := []deploy.Entry{
		{Commit: store.ID{0xaa}, Time: when, Operator: "alice", Message: "raise workers\n\nbody", Recorded: true},
		{Commit: store.ID{0xbb}, Time: when, Operator: "bob", Message: "first"},
	}
	var b strings.Builder
	PrintVersions(&b, entries, [][]string{{"nginx", "php"}, nil})
	lines := strings.Split(b.String(), "\n")
	if lines[0] != "Deployed versions, newest first:" || lines[1] != "  1) aa0000000000  2026-01-02 03:04  alice  raise workers  (current)" ||
		!strings.HasSuffix(lines[2], "; changed nginx, php") || lines[3] != "  2) bb0000000000  2026-01-02 03:04  bob  first" || strings.Contains(lines[4], "changed") {
		t.Errorf("versions:\n%s", b.String())
	}

	// A deploy fetched from the team's remote names its own operator and
	// subject: whatever they hold, the list stays the operator's.
	b.Reset()
	PrintVersions(&b, []deploy.Entry{{Commit: store.ID{0xcc}, Time: when, Operator: "eve\x1b]0;owned\a", Message: "fix\x1b[2J\r  1) aa0000000000 looks current"}}, [][]string{nil})
	if got := b.String(); strings.ContainsAny(got, "\x1b\a\r") || !strings.Contains(got, `eve\x1b]0;owned\x07  fix\x1b[2J\x0d`) {
		t.Errorf("versions with control characters:\n%q", got)
	}
}
