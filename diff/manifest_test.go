package diff

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseManifestFull(t *testing.T) {
	m, err := ParseManifest("m.json", []byte(`{
		"systemd": {"units_enabled": ["a.service", "b.timer"]},
		"symlinks": {"/etc/frobnicator.conf": "frobnicator.conf"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Manifest{
		Systemd:  SystemdManifest{UnitsEnabled: []string{"a.service", "b.timer"}},
		Symlinks: map[string]string{"/etc/frobnicator.conf": "frobnicator.conf"},
	}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("manifest (-want +got):\n%s", d)
	}
}

func TestParseManifestChecks(t *testing.T) {
	m, err := ParseManifest("m.json", []byte(`{"checks": [
		{"http": "http://127.0.0.1:8080/healthz", "timeout": "5s", "expect_status": 204},
		{"tcp": "127.0.0.1:5432"}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Check{
		{HTTP: "http://127.0.0.1:8080/healthz", Timeout: "5s", ExpectStatus: 204},
		{TCP: "127.0.0.1:5432"},
	}
	if d := cmp.Diff(want, m.Checks); d != "" {
		t.Errorf("checks (-want +got):\n%s", d)
	}
	if got := m.Checks[0].String() + " / " + m.Checks[1].String(); got != "http://127.0.0.1:8080/healthz expect 204 / tcp 127.0.0.1:5432" {
		t.Errorf("shown as %q", got)
	}
	if m.Checks[0].Duration() != 5*time.Second || m.Checks[1].Duration() != DefaultCheckTimeout {
		t.Errorf("durations %s, %s", m.Checks[0].Duration(), m.Checks[1].Duration())
	}
}

func TestCheckValidate(t *testing.T) {
	for _, tt := range []struct {
		c    Check
		want string // substring of the error; "" for valid
	}{
		{Check{HTTP: "http://127.0.0.1:8080/healthz"}, ""},
		{Check{HTTP: "https://[::1]/", ExpectStatus: 301, Timeout: "5m"}, ""},
		{Check{TCP: "127.0.0.1:5432", Timeout: "250ms"}, ""},
		{Check{TCP: "[::1]:22"}, ""},
		{Check{TCP: "db:5432"}, ""},
		{Check{}, `names no probe; give "http" (a URL) or "tcp" (host:port)`},
		{Check{HTTP: "http://a/", TCP: "a:1"}, `has both "http" and "tcp"`},
		{Check{HTTP: "ftp://a/"}, `http "ftp://a/": must start with http:// or https://`},
		{Check{HTTP: "127.0.0.1:8080/healthz"}, "is not a URL; write it like http://127.0.0.1:8080/healthz"},
		{Check{HTTP: "localhost:8080/healthz"}, "must start with http://"},
		{Check{HTTP: "http:///healthz"}, "names no host"},
		{Check{HTTP: "http://a:99999/"}, `port "99999" is not a port number`},
		{Check{HTTP: "http://a/\n"}, "control character"},
		{Check{HTTP: "http://a b/"}, "is not a URL"},
		{Check{TCP: "127.0.0.1"}, `tcp "127.0.0.1": must be host:port`},
		{Check{TCP: ":5432"}, "names no host"},
		{Check{TCP: "a:0"}, `port "0" is not a port number`},
		{Check{TCP: "a:65536"}, `port "65536"`},
		{Check{TCP: "a:postgres"}, `port "postgres"`},
		{Check{TCP: "a:1", ExpectStatus: 200}, "expect_status applies to http checks only"},
		{Check{HTTP: "http://a/", ExpectStatus: 42}, "expect_status 42 is not an HTTP status"},
		{Check{HTTP: "http://a/", Timeout: "5"}, `timeout "5" is not a duration; write it like "5s"`},
		{Check{HTTP: "http://a/", Timeout: "0s"}, `timeout "0s" must be more than zero`},
		{Check{HTTP: "http://a/", Timeout: "-1s"}, "must be more than zero"},
		{Check{HTTP: "http://a/", Timeout: "5h"}, `timeout "5h" is longer than the limit of 5m0s`},
	} {
		err := tt.c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v", tt.c, err)
		case tt.want != "" && err == nil:
			t.Errorf("%+v: accepted, want %q", tt.c, tt.want)
		case tt.want != "" && !strings.Contains(err.Error(), tt.want):
			t.Errorf("%+v: %q does not contain %q", tt.c, err, tt.want)
		}
	}
}

func TestParseManifestSectionsAreOptional(t *testing.T) {
	for _, in := range []string{`{}`, ` {"systemd": {}} `, `{"symlinks": {}}`, "{}\n"} {
		m, err := ParseManifest("m.json", []byte(in))
		if err != nil {
			t.Errorf("%q: %v", in, err)
		}
		if len(m.Systemd.UnitsEnabled) != 0 || len(m.Symlinks) != 0 {
			t.Errorf("%q: got %+v, want an empty manifest", in, m)
		}
	}
}

func TestParseManifestErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings of the error, after the file name
	}{
		{"unknown top-level key", `{"systemd": {}, "symlink": {}}`,
			[]string{`unknown key "symlink" on line 1`, `did you mean "symlinks"?`}},
		{"unknown nested key", "{\n  \"systemd\": {\n    \"unit_enabled\": []\n  }\n}",
			[]string{`unknown key "unit_enabled" in "systemd" on line 3`, `did you mean "units_enabled"?`}},
		{"unknown key far from any", `{"hooks": []}`,
			[]string{`unknown key "hooks"`, "known keys: checks, files, symlinks, systemd"}},
		{"unknown key in a check", "{\"checks\": [\n {\"tcp\": \"a:1\"},\n {\"http\": \"http://a/\", \"timout\": \"1s\"}]}",
			[]string{`unknown key "timout" in "checks[1]" on line 3`, `did you mean "timeout"?`}},
		{"check command", `{"checks": [{"exec": "curl localhost"}]}`,
			[]string{`unknown key "exec" in "checks[0]"`, "known keys: expect_status, http, tcp, timeout"}},
		{"checks not a list", `{"checks": {"tcp": "a:1"}}`,
			[]string{"key checks on line 1 must be a list of objects, not an object"}},
		{"check not an object", `{"checks": ["tcp a:1"]}`,
			[]string{"key checks[0] on line 1 must be an object, not a string"}},
		{"timeout a number", "{\"checks\": [{\"tcp\": \"a:1\"},\n {\"tcp\": \"b:2\", \"timeout\": 5}]}",
			[]string{"key checks[1].timeout on line 2 must be a string, not a number"}},
		{"expect_status a string", `{"checks": [{"http": "http://a/", "expect_status": "204"}]}`,
			[]string{"key checks[0].expect_status on line 1 must be a whole number, not a string"}},
		{"expect_status a fraction", `{"checks": [{"http": "http://a/", "expect_status": 204.5}]}`,
			[]string{"key checks[0].expect_status on line 1 must be a whole number, not 204.5"}},
		{"expect_status too big", `{"checks": [{"http": "http://a/", "expect_status": 1e400}]}`,
			[]string{"key checks[0].expect_status on line 1 must be a whole number, not 1e400"}},
		{"repeated check key", `{"checks": [{"tcp": "a:1", "tcp": "b:2"}]}`,
			[]string{"key checks[0].tcp appears twice"}},
		{"units_enabled not a list", `{"systemd": {"units_enabled": "a.service"}}`,
			[]string{"key systemd.units_enabled on line 1 must be a list of strings, not a string"}},
		{"unit not a string", `{"systemd": {"units_enabled": ["a.service", 3]}}`,
			[]string{"key systemd.units_enabled[1]", "must be a string, not a number"}},
		{"symlinks a list", `{"symlinks": ["/etc/a"]}`,
			[]string{"key symlinks on line 1 must be an object of strings, not a list"}},
		{"symlink target not a string", `{"symlinks": {"/etc/a": true}}`,
			[]string{`key symlinks["/etc/a"]`, "must be a string, not true/false"}},
		{"section null", `{"systemd": null}`,
			[]string{"key systemd on line 1 must be an object, not null"}},
		{"repeated key", "{\"symlinks\": {\"/etc/a\": \"a\",\n \"/etc/a\": \"b\"}}",
			[]string{`key symlinks["/etc/a"] appears twice (line 2)`}},
		{"trailing data", `{} {}`, []string{"unexpected data after the closing brace"}},
		{"trailing garbage", "{}\nx", []string{"unexpected data after the closing brace on line 2"}},
		{"syntax error", "{\n\"systemd\" {}}", []string{"invalid JSON on line 2"}},
		{"truncated", `{"systemd": {"units_enabled": [`, []string{"the JSON ends too early"}},
		{"empty", "  \n", []string{"the file is empty"}},
		{"not an object", `["a.service"]`, []string{"the manifest must be a JSON object, not a list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest("prod/web1/nginx/manifest.json", []byte(tt.in))
			if err == nil {
				t.Fatal("accepted; want an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "prod/web1/nginx/manifest.json: ") {
				t.Errorf("error %q does not start with the file's path", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"unit_enabled", "units_enabled", 1}, {"kitten", "sitting", 3}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
