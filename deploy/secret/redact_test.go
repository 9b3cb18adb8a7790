package secret

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRedactorReplacesWholeValuesLinesAndJSONEscapes(t *testing.T) {
	r := NewRedactor()
	r.Add("app/db.password", []byte("hunter2-\"x\"\n"))
	r.Add("app/key.pem", []byte("-----BEGIN KEY-----\nAAAAbbbbCCCC\nxy\n-----END KEY-----\n"))
	r.Add("app/pin", []byte("42\n")) // too short to redact
	for in, want := range map[string]string{
		"password is hunter2-\"x\" here":                           "password is [secret app/db.password] here",
		`{"pw": "hunter2-\"x\""}`:                                  `{"pw": "[secret app/db.password]"}`,
		"line AAAAbbbbCCCC of the key":                             "line [secret app/key.pem] of the key",
		"-----BEGIN KEY-----\nAAAAbbbbCCCC\nxy\n-----END KEY-----": "[secret app/key.pem]",
		"port 42, xy": "port 42, xy",
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

// In a JSON document only string values change, whatever the secret looks
// like: one that spells a field's name, a number or JSON syntax leaves
// the document whole.
func TestRedactorJSONKeepsTheDocument(t *testing.T) {
	r := NewRedactor()
	r.Add("a/s", []byte(`1234", "x": "`))
	r.Add("a/t", []byte("outcome"))
	r.Add("a/n", []byte("123456"))
	in := map[string]any{"outcome": "deployed", "n": json.Number("123456"), "out": `said 1234", "x": " and outcome`}
	data, _ := json.Marshal(in)
	var got map[string]any
	if err := json.Unmarshal(r.JSON(data), &got); err != nil {
		t.Fatalf("redacted JSON does not parse: %v\n%s", err, r.JSON(data))
	}
	want := map[string]any{"outcome": "deployed", "n": 123456.0, "out": "said [secret a/s] and [secret a/t]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("redacted (-want +got):\n%s", diff)
	}
	var nilR *Redactor
	if string(nilR.JSON(data)) != string(data) || !NewRedactor().Empty() {
		t.Errorf("a redactor that knows nothing changed the document")
	}
}
