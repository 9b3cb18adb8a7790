package deploy

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/deptool/deptool/store"
	"github.com/google/go-cmp/cmp"
)

func sampleID(c byte) store.ID {
	var id store.ID
	for i := range id {
		id[i] = c
	}
	return id
}

// sampleResult fills every field of the outcomes note at least once.
func sampleResult() *Result {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &Result{Deploy: sampleID(0xd1), Elapsed: 3 * time.Second, Source: "0123456789abcdef0123456789abcdef01234567",
		Hosts: []HostResult{
			{Host: "web1", Outcome: Deployed, Commit: sampleID(0xa1), Elapsed: time.Second, Freed: 4096,
				Units:      []UnitReport{{Unit: "web.service", State: "active (running)", Since: at, MainPID: 42}},
				Checks:     []CheckReport{{App: "web", Check: "http http://127.0.0.1:8080/", OK: true, Attempts: 1, Elapsed: 5 * time.Millisecond}},
				Validation: []ValidationReport{{App: "web", Command: []string{"nginx", "-t"}, OK: true, Output: "syntax is ok"}}},
			{Host: "web2", Outcome: RollbackFailed, Commit: sampleID(0xa2), Elapsed: 2 * time.Second,
				Error: "unit web.service failed: exit-code; rollback: stop web.service: timeout",
				Units: []UnitReport{{Unit: "web.service", State: "failed (exit-code)", Failed: true, Reason: "exit-code", Journal: []string{"web[1]: bind: address in use"}},
					{Unit: "web.service", State: "failed (exit-code)", Failed: true, Reason: "exit-code", AfterRollback: true}},
				Checks:     []CheckReport{{App: "web", Check: "tcp 127.0.0.1:9", Error: "connection refused", Attempts: 3, Elapsed: 2 * time.Second}},
				Validation: []ValidationReport{{App: "web", Command: []string{"false"}, Error: "exit status 1", Output: "no"}}},
			{Host: "web3", Outcome: Unknown, Detail: "found on the host by 'deptool check': this deploy never heard back"},
		}}
}

// The outcomes note is a stored format: testdata/outcomes-note.v1.json is
// a note as the release before typed formats wrote it. A renamed or
// dropped field fails the first half; a note of that release that no
// longer reads back fails the second.
func TestOutcomesNoteFormat(t *testing.T) {
	golden, err := os.ReadFile("testdata/outcomes-note.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := encodeNote(sampleResult())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), golden) {
		t.Errorf("the outcomes note changed format: got\n%s\nwant (testdata/outcomes-note.v1.json)\n%s", got, golden)
	}
	read, err := decodeNote(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sampleResult(), read); diff != "" {
		t.Errorf("a note of the previous release reads back differently (-want +got):\n%s", diff)
	}
}

// Notes written before one spelling of outcomes was chosen still read.
func TestOutcomesNoteReadsOldSpellings(t *testing.T) {
	res, err := decodeNote([]byte(`{"deploy":"d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1","hosts":[{"host":"a","outcome":"rolled_back","elapsed_ns":0}],"elapsed_ns":0}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Hosts[0].Outcome != RolledBack {
		t.Errorf("outcome %q, want %q", res.Hosts[0].Outcome, RolledBack)
	}
}
