package diff

import (
	"strings"
	"testing"

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
		{"unknown key far from any", `{"checks": []}`,
			[]string{`unknown key "checks"`, "known keys: symlinks, systemd"}},
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
