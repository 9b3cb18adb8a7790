package diff

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/deptool/deptool/store"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var manifestSeeds = []string{
	`{}`,
	`{"systemd": {"units_enabled": ["a.service", "b.timer"]}, "symlinks": {"/etc/frobnicator.conf": "frobnicator.conf"}}`,
	`{"systemd": {"unit_enabled": []}}`,
	`{"symlinks": {"/etc/a": "a", "/etc/a": "b"}}`,
	`{"systemd": null}`,
	`[1, 2]`,
	`{"symlinks": {"/x": "\u0000"}} trailing`,
	`{"systemd": {"units_enabled": [[[[]]]]}}`,
	`{"checks": [{"http": "http://127.0.0.1:8080/", "timeout": "5s", "expect_status": 204}, {"tcp": "127.0.0.1:5432"}]}`,
	`{"checks": [{"tcp": "a:1", "expect_status": -0.5e3}]}`,
	"",
}

func FuzzParseManifest(f *testing.F) {
	for _, s := range manifestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest("web1/app/manifest.json", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "web1/app/manifest.json: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		// What was accepted survives a round trip unchanged.
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseManifest("again", out)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", out, err)
		}
		if d := cmp.Diff(m, back, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("round trip changed the manifest (-first +second):\n%s", d)
		}
	})
}

// fuzzName turns fuzzer bytes into a name Git can store in a tree.
func fuzzName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == 0 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "x" + s
	}
	return s
}

func fuzzPath(s string) string {
	parts := strings.Split(s, "/")
	for i, p := range parts {
		parts[i] = fuzzName(p)
	}
	return strings.Join(parts, "/")
}

// FuzzValidate builds a two-app cluster from fuzzer input: a host and app
// named by the fuzzer, holding a file at a fuzzer path and a fuzzer
// manifest, next to a fixed app that it may conflict with. Validation,
// loading and planning must not panic, and every problem names a path.
func FuzzValidate(f *testing.F) {
	f.Add("web1", "nginx", "nginx.conf", []byte("x"), []byte(manifestSeeds[1]))
	f.Add("web1", "other", "systemd/fixed.service", []byte("x"), []byte(`{"symlinks": {"/etc/fixed": "nginx.conf"}}`))
	f.Add("-x", ".app", "systemd/x.service.d/a.conf", []byte(""), []byte(`{"systemd": {"units_enabled": ["x@y.service"]}}`))
	f.Add("a.lock", "b", "quadlets/q.container", []byte("\x00"), []byte(`{"symlinks": {"/etc/systemd": "../x"}}`))
	f.Add("0", "\x10", "f", []byte("x"), []byte("{}"))
	f.Fuzz(func(t *testing.T, host, app, path string, content, manifest []byte) {
		host, app, path = fuzzName(host), fuzzName(app), fuzzPath(path)
		s := store.OpenMemory()
		files := map[string]file{
			host + "/" + app + "/" + ManifestName: {data: string(manifest)},
			"web1/fixed/manifest.json":            {data: `{"systemd": {"units_enabled": ["fixed.service"]}, "symlinks": {"/etc/fixed": "f"}}`},
			"web1/fixed/f":                        {data: "f"},
			"web1/fixed/systemd/fixed.service":    {data: "[Service]\n"},
		}
		if full := host + "/" + app + "/" + path; files[full] == (file{}) {
			files[full] = file{data: string(content), exec: len(content)%2 == 1}
		}
		tree := buildFiles(t, s, prune(files))
		snap := &store.Snapshot{Tree: tree, Irregular: []store.Irregular{{Path: host + "/" + app + "/irregular", Kind: "socket"}}}

		err := Validate(s, snap, "prod")
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) == 0 {
			t.Fatalf("Validate returned %v; the irregular file alone is a problem", err)
		}
		for _, p := range ve.Problems {
			if !strings.HasPrefix(p.Path, "prod/") || p.Message == "" {
				t.Fatalf("problem %+v does not name a path and say what is wrong", p)
			}
		}
		clean := Validate(s, &store.Snapshot{Tree: tree}, "prod") == nil

		if _, err := LoadCluster(s, tree); err != nil && !errors.As(err, &ve) {
			t.Fatalf("LoadCluster: %v is not a validation error", err)
		} else if err != nil && clean {
			t.Fatalf("LoadCluster refused a tree Validate accepts: %v", err)
		}
		p, err := MakePlan(s, tree, PlanOptions{})
		if err != nil {
			if clean || !strings.Contains(err.Error(), "/") {
				t.Fatalf("MakePlan: %v", err)
			}
			return
		}
		if clean && len(p.Hosts) == 0 {
			t.Fatalf("plan of a new cluster has no host: %+v", p)
		}
	})
}
