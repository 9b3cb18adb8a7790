package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/store"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

var (
	idA = store.ID(plumbing.NewHash("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
	idB = store.ID(plumbing.NewHash("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
)

func TestMessagesRoundTrip(t *testing.T) {
	msgs := []Message{
		&HelloRequest{Version: Version, Build: "0123456789ab", Host: "web1", Operator: "ann@laptop"},
		&HelloReply{Version: Version, Build: "0123456789ab", Hostname: "web1", Current: idA, Target: idB},
		&HelloReply{Hostname: "web1"},
		&LockRequest{Base: idA, Operator: "ann@laptop"},
		&LockReply{},
		&ObjectsRequest{},
		&ObjectsReply{},
		&ApplyRequest{Commit: idA, Deploy: idB, Operator: "ann@laptop", Plan: Plan{
			Host: "web1", To: idB,
			Apps: []AppPlan{{App: "nginx", Action: Add, To: idA,
				Symlinks: []SymlinkStep{{Op: Link, Path: "/etc/nginx/nginx.conf", Target: "nginx.conf"}}}},
		}},
		&Progress{Step: "checkout", App: "nginx", Detail: "aaaaaaaaaaaa"},
		&Result{Outcome: Failed, Failure: &Failure{Code: FailStep, Step: "checkout", App: "nginx", Message: "app nginx: checkout: boom"}, Current: idA, Target: idB},
		&Result{Outcome: RollbackFailed, Failure: &Failure{Code: FailUnit, Step: "settle", App: "nginx", Unit: "nginx.service", Message: "unit nginx.service failed"},
			RollbackFailure: &Failure{Code: FailRollback, Step: "rollback", Message: "stop nginx.service: timeout"}},
		&FetchRequest{},
		&FetchReply{Current: idA},
		&Ping{Seq: 7},
		&Pong{Seq: 7},
		&Bye{},
		&ByeReply{},
		&JournalRequest{Limit: 3},
		&JournalReply{Entries: []JournalEntry{{
			Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), Operator: "ann@laptop", Deploy: idA,
			From: idA, To: idB, Outcome: RolledBack, Error: "unit failed", FailedUnits: []string{"nginx.service"},
		}}},
		&ApplyRequest{Commit: idA, Operator: "ann@laptop", Keep: 3, Plan: Plan{Host: "web1"}},
		&Result{Outcome: Deployed, Current: idA, Target: idA, Freed: 12345},
		&AgentError{Code: CodeBusy, Message: "busy", Holder: &Holder{Operator: "bob@desk", PID: 42, Since: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}},
		&AgentError{Code: CodeStale, Message: "stale", Current: idB},
	}
	for _, m := range msgs {
		payload, err := EncodeMessage(m)
		if err != nil {
			t.Fatalf("%s: %v", m.Type(), err)
		}
		got, err := DecodeMessage(payload)
		if err != nil {
			t.Fatalf("%s: decode %s: %v", m.Type(), payload, err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("%s round trip (-sent +received):\n%s", m.Type(), diff)
		}
	}
}

// Ids travel as hex so a captured session reads like git output.
func TestIDsAreHexOnTheWire(t *testing.T) {
	payload, err := EncodeMessage(&LockRequest{Base: idA, Operator: "ann@laptop"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"lock","body":{"base":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","operator":"ann@laptop"}}`
	if string(payload) != want {
		t.Errorf("got  %s\nwant %s", payload, want)
	}
	payload, _ = EncodeMessage(&HelloReply{Hostname: "web1"})
	if strings.Contains(string(payload), "current") {
		t.Errorf("a zero id is sent: %s", payload)
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	if _, err := DecodeMessage([]byte(`{"type":"teleport","body":{}}`)); err == nil || !strings.Contains(err.Error(), `unknown message type "teleport"`) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := DecodeMessage([]byte(`{"type":"lock","body":{"base":"xyz"}}`)); err == nil || !strings.Contains(err.Error(), "bad lock message") {
		t.Errorf("bad id: %v", err)
	}
	if _, err := DecodeMessage([]byte(`not json`)); err == nil || !strings.HasPrefix(err.Error(), "agent protocol: bad message") {
		t.Errorf("garbage: %v", err)
	}
	// Fields a newer deptool adds are ignored, not refused.
	m, err := DecodeMessage([]byte(`{"type":"ping","body":{"seq":2,"urgent":true}}`))
	if err != nil || m.(*Ping).Seq != 2 {
		t.Errorf("extra field: %v, %v", m, err)
	}
}

func TestResultErr(t *testing.T) {
	if err := (Result{Outcome: Deployed}).Err(); err != nil {
		t.Errorf("deployed: %v", err)
	}
	if err := (Result{Outcome: Failed, Failure: &Failure{Code: FailStep, Message: "app x: boom"}}).Err(); err == nil || err.Error() != "app x: boom" {
		t.Errorf("failed: %v", err)
	}
	err := Result{Outcome: RollbackFailed, Failure: &Failure{Code: FailUnit, Unit: "a.service", Message: "unit a.service failed"},
		RollbackFailure: &Failure{Code: FailRollback, Message: "stop a.service: timeout"}}.Err()
	if want := "unit a.service failed; rollback: stop a.service: timeout"; err == nil || err.Error() != want {
		t.Errorf("rollback failed: %v, want %q", err, want)
	}
	var f *Failure
	if !errors.As(err, &f) || f.Code != FailUnit || f.Unit != "a.service" {
		t.Errorf("errors.As finds %+v, want the unit's failure", f)
	}
}

// An agent from before typed failures sent its failure as strings, the
// rollback's glued to the apply's: the operator still shows them, once.
func TestResultFromAnAgentBeforeTypedFailures(t *testing.T) {
	for file, want := range map[string]string{
		"testdata/result-strings.v0.json":             "unit web.service failed: exit-code; rollback: stop web.service: timeout",
		"testdata/result-unconfirmed-strings.v0.json": "not confirmed within 30s",
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m, err := DecodeMessage(bytes.TrimSpace(data))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		res := m.(*Result)
		if got := res.Message(); got != want {
			t.Errorf("%s: message %q, want %q", file, got, want)
		}
		if res.Failure.Code != FailText {
			t.Errorf("%s: code %q, want %q", file, res.Failure.Code, FailText)
		}
	}
}

func TestBuildFromPath(t *testing.T) {
	for path, want := range map[string]string{
		AgentPath("0123456789ab"):                          "0123456789ab",
		"/usr/local/bin/deptool":                           "",
		"/tmp/deptool-" + Version + "-0123456789ab":        "",
		AgentDir + "/deptool-0.0.1-0123456789ab":           "",
		AgentDir + "/deptool-" + Version + "-0123":         "",
		AgentDir + "/deptool-" + Version + "-XYZ456789abc": "",
	} {
		got, ok := buildFromPath(path)
		if got != want || ok != (want != "") {
			t.Errorf("buildFromPath(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}

// Host journals written before the outcome had one spelling say
// "rolled_back"; they read as today's.
func TestOldOutcomeSpellingsRead(t *testing.T) {
	var e JournalEntry
	if err := json.Unmarshal([]byte(`{"outcome":"rolled_back"}`), &e); err != nil || e.Outcome != RolledBack {
		t.Fatalf("rolled_back read as %q (%v), want %q", e.Outcome, err, RolledBack)
	}
	if err := json.Unmarshal([]byte(`{"outcome":"rollback_failed"}`), &e); err != nil || e.Outcome != RollbackFailed {
		t.Fatalf("rollback_failed read as %q (%v), want %q", e.Outcome, err, RollbackFailed)
	}
}

// Every message decodes into its own type, under the name it sends.
func TestRegistryMakesEachMessageOfItsType(t *testing.T) {
	if len(registry) != 23 {
		t.Errorf("%d message types, want 23", len(registry))
	}
	for typ, mk := range registry {
		m := mk()
		if m.Type() != typ {
			t.Errorf("type %q makes a %T, of type %q", typ, m, m.Type())
		}
		payload, err := EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeMessage(payload)
		if err != nil || reflect.TypeOf(got) != reflect.TypeOf(m) {
			t.Errorf("%s decodes to %T, %v", typ, got, err)
		}
	}
}
