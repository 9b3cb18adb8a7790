package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
	"github.com/google/go-cmp/cmp"
)

// The host journal and the attempt record are stored formats, which every
// later agent reads back on the host. Their testdata files are records as
// the release before typed formats wrote them: a renamed or dropped field
// changes what is written (the first half of each test), and a record of
// that release that no longer reads back fails the second.

func sampleID(c byte) store.ID {
	var id store.ID
	for i := range id {
		id[i] = c
	}
	return id
}

var sampleAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func sampleJournal() []JournalEntry {
	return []JournalEntry{
		{Time: sampleAt, Operator: "ann@laptop", Deploy: sampleID(0xd1), To: sampleID(0xa1), Outcome: wire.Deployed},
		{Time: sampleAt.Add(time.Minute), Operator: "ann@laptop", Deploy: sampleID(0xd2), From: sampleID(0xa1), To: sampleID(0xa2), Outcome: wire.RollbackFailed,
			Error: "unit web.service failed: exit-code; rollback: stop web.service: timeout", RollbackError: "stop web.service: timeout",
			FailedUnits: []string{"web.service"}, FailedChecks: []string{"web: tcp 127.0.0.1:9: connection refused"}},
	}
}

func TestHostJournalFormat(t *testing.T) {
	golden, err := os.ReadFile("testdata/journal.v1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	l := layout{root: t.TempDir()}
	if err := os.MkdirAll(filepath.Dir(l.journalFile()), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range sampleJournal() {
		if err := appendJournal(l, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(l.journalFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Errorf("the host journal changed format: got\n%s\nwant (testdata/journal.v1.jsonl)\n%s", got, golden)
	}
	if err := os.WriteFile(l.journalFile(), golden, 0o600); err != nil {
		t.Fatal(err)
	}
	read, warnings, err := readJournal(l)
	if err != nil || len(warnings) > 0 {
		t.Fatal(err, warnings)
	}
	if diff := cmp.Diff(sampleJournal(), read); diff != "" {
		t.Errorf("a journal of the previous release reads back differently (-want +got):\n%s", diff)
	}
}

func sampleAttempt() *Attempt {
	return &Attempt{Operator: "ann@laptop", Deploy: sampleID(0xd2), From: sampleID(0xa1), To: sampleID(0xa2), Started: sampleAt,
		Outcome: wire.RolledBack, Error: "unit web.service failed: exit-code", Undone: true,
		Effects: []Effect{
			{Kind: EffectCheckout, App: "web", Path: "a2a2a2a2a2a2"},
			{Kind: EffectSwitch, App: "web", OldCurrent: "a1a1a1a1a1a1", NewCurrent: "a2a2a2a2a2a2"},
			{Kind: EffectMkdir, App: "web", Path: "/etc/web"},
			{Kind: EffectLink, App: "web", Path: "/etc/web/web.conf", Target: "/var/lib/deptool/apps/web/current/web.conf", OldTarget: "/old",
				Adopted: &Adoption{Path: "/etc/web/web.conf", Copy: "adopted/1", Mode: 0o644, SHA256: "e3b0"}},
			{Kind: EffectUnlink, App: "web", Path: "/etc/web/old.conf", OldTarget: "/var/lib/deptool/apps/web/current/old.conf"},
			{Kind: EffectRemoveApp, App: "old", Path: "old.removed"},
			{Kind: EffectStop, App: "web", Unit: "web.service"},
			{Kind: EffectDisable, App: "web", Unit: "web.service"},
			{Kind: EffectEnable, App: "web", Unit: "web.service"},
			{Kind: EffectRestart, App: "web", Unit: "nginx.service", External: true},
			{Kind: EffectReload, App: "web", Unit: "web.service"},
		}}
}

func TestAttemptRecordFormat(t *testing.T) {
	golden, err := os.ReadFile("testdata/attempt.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	l := layout{root: t.TempDir()}
	if err := os.MkdirAll(filepath.Dir(l.attemptFile()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := sampleAttempt().save(l); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(l.attemptFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Errorf("the attempt record changed format: got\n%s\nwant (testdata/attempt.v1.json)\n%s", got, golden)
	}
	if err := os.WriteFile(l.attemptFile(), golden, 0o600); err != nil {
		t.Fatal(err)
	}
	read, err := LoadAttempt(l.root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sampleAttempt(), read); diff != "" {
		t.Errorf("an attempt record of the previous release reads back differently (-want +got):\n%s", diff)
	}
}
