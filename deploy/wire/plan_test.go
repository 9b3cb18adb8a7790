package wire

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/apply-request.json from the current encoding")

// fullApplyRequest sets every field of an apply request, down to the
// plan's steps.
func fullApplyRequest() *ApplyRequest {
	return &ApplyRequest{
		Commit: idA, Deploy: idB, Operator: "ann@laptop",
		Plan: Plan{
			Host: "web1", Base: idA, To: idB, Sysusers: true, DaemonReload: true, Rollback: true,
			Apps: []AppPlan{{
				App: "web", Action: Update, To: idB,
				Files:    []FileChange{{Op: Add, Path: "systemd/web.service"}},
				Symlinks: []SymlinkStep{{Op: Link, Path: "/etc/web.conf", Target: "web.conf"}},
				Sysusers: []LinkStep{{Op: Link, Name: "web.conf"}},
				Quadlets: []LinkStep{{Op: Unlink, Name: "db.container"}},
				Units:    []UnitStep{{Op: Reload, Unit: "nginx.service", External: true}},
				Checks:   []Check{{HTTP: "http://127.0.0.1:8080/", ExpectStatus: 204, Timeout: "5s"}, {TCP: "127.0.0.1:5432"}},
				Validate: [][]string{{"nginx", "-t"}},
			}},
		},
		Settle: 2 * time.Second, Keep: 3, ConfirmTimeout: 30 * time.Second, UnitTimeout: time.Minute, ValidateTimeout: 10 * time.Second,
		Signed: &Signed{Commit: []byte("commit"), Root: []byte("tree"), Index: []byte("index"), Bucket: []byte("bucket")}, RequireSigned: true,
	}
}

// The apply request is the protocol between this deptool and its agent:
// a field renamed, retyped or dropped changes this file and fails here.
func TestApplyRequestGolden(t *testing.T) {
	const file = "testdata/apply-request.json"
	payload, err := EncodeMessage(fullApplyRequest())
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, payload, "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	if *update {
		if err := os.WriteFile(file, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), got.String()); d != "" {
		t.Errorf("the apply request's encoding changed (-%s +now):\n%s", file, d)
	}
	for _, name := range jsonNames(reflect.TypeOf(ApplyRequest{}), map[reflect.Type]bool{}) {
		if !strings.Contains(string(want), `"`+name+`":`) {
			t.Errorf("%s has no %q: set that field in fullApplyRequest, so the file pins it", file, name)
		}
	}
	m, err := DecodeMessage(want)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(fullApplyRequest(), m); d != "" {
		t.Errorf("%s reads back as another request (-sent +read):\n%s", file, d)
	}
}

// jsonNames lists the JSON names of t's fields and of the structs in them.
func jsonNames(t reflect.Type, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return nil
	}
	seen[t] = true
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out = append(out, name)
		out = append(out, jsonNames(f.Type, seen)...)
	}
	return out
}

// A check over the wire is judged by the manifest's rules.
func TestCheckIsJudgedAsTheManifestsIs(t *testing.T) {
	c := Check{HTTP: "http://127.0.0.1:8080/", ExpectStatus: 204, Timeout: "5s"}
	if got := c.String(); got != "http://127.0.0.1:8080/ expect 204" {
		t.Errorf("String = %q", got)
	}
	if got := c.Duration(); got != 5*time.Second {
		t.Errorf("Duration = %v", got)
	}
	if err := (Check{HTTP: "file:///etc/shadow"}).Validate(); err == nil {
		t.Error("a file URL passes")
	}
}
