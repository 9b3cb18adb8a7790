package diff

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/store"
	"github.com/google/go-cmp/cmp"
)

// goodTree is a valid cluster; each rule's test breaks it in one place.
func goodTree() map[string]string {
	return map[string]string{
		"web1/nginx/nginx.conf":                         "worker_processes 1;\n",
		"web1/nginx/mime.types":                         "types {}\n",
		"web1/nginx/manifest.json":                      `{"systemd": {"units_enabled": ["nginx.service", "getty@tty1.service"]}, "symlinks": {"/etc/nginx/nginx.conf": "nginx.conf"}}`,
		"web1/nginx/systemd/nginx.service":              "[Service]\n[Install]\nWantedBy=multi-user.target\n",
		"web1/nginx/systemd/getty@.service":             "[Service]\n[Install]\nWantedBy=getty.target\n",
		"web1/nginx/systemd/nginx.service.d/limit.conf": "[Service]\nLimitNOFILE=65536\n",
		"web1/nginx/sysusers/nginx.conf":                "u nginx - -\n",
		"web1/nginx/quadlets/cache.container":           "[Container]\n",
		"web1/nginx/quadlets/cache.container.d/a.conf":  "[Container]\n",
		"web1/node-exporter_1.8/run.sh":                 "#!/bin/sh\n",
		"db1.example.com/":                              "",
	}
}

// validateTree builds files (on top of goodTree unless replace is set) and
// validates them as the cluster directory "prod".
func validateTree(t *testing.T, files map[string]string, irregular ...store.Irregular) error {
	t.Helper()
	s := newStore(t)
	tree := buildTree(t, s, files)
	err := Validate(s, &store.Snapshot{Tree: tree, Irregular: irregular}, "prod")
	if err != nil {
		if _, ok := err.(*ValidationError); !ok {
			t.Fatalf("Validate returned %T %v, want a *ValidationError", err, err)
		}
	}
	return err
}

func with(extra map[string]string, drop ...string) map[string]string {
	files := goodTree()
	for _, d := range drop {
		delete(files, d)
	}
	for k, v := range extra {
		files[k] = v
	}
	return files
}

// wantProblems checks that err lists exactly one problem per entry of
// want (path -> substring of its message).
func wantProblems(t *testing.T, err error, want map[string][]string) {
	t.Helper()
	ve, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("got %v, want a validation error", err)
	}
	got := map[string][]string{}
	for _, p := range ve.Problems {
		got[p.Path] = append(got[p.Path], p.Message)
	}
	if len(got) != len(want) {
		t.Errorf("problems at %v, want at %v\n%v", keys(got), keys(want), err)
	}
	for path, subs := range want {
		msgs := got[path]
		if len(msgs) != len(subs) {
			t.Errorf("%s: got %d problems %q, want %d", path, len(msgs), msgs, len(subs))
			continue
		}
		for i, sub := range subs {
			if !strings.Contains(msgs[i], sub) {
				t.Errorf("%s: problem %q does not mention %q", path, msgs[i], sub)
			}
		}
	}
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestValidateAcceptsAGoodTree(t *testing.T) {
	if err := validateTree(t, goodTree()); err != nil {
		t.Fatal(err)
	}
}

func TestValidateHostNames(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"-web/a/f":             "",
		"web_1/a/f":            "",
		"web..1/a/f":           "",
		"web1.lock/a/f":        "",
		"web1-/a/f":            "",
		"ok-host.example.org/": "",
		"WEB1/b/f":             "",
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1":      {"names the same host as WEB1 (host names ignore case)"},
		"prod/-web":      {"cannot start or end with '-'"},
		"prod/web_1":     {`contains '_'`},
		"prod/web..1":    {"empty part"},
		"prod/web1.lock": {`cannot end in ".lock"`},
		"prod/web1-":     {"cannot start or end with '-'"},
	})
}

func TestValidateAppNames(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/.hidden/f":  "",
		"web1/-flag/f":    "",
		"web1/a b/f":      "",
		"web1/app:1/f":    "",
		"web1/A_b-c.d9/f": "",
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/.hidden": {`starts with '.'`},
		"prod/web1/-flag":   {`starts with '-'`},
		"prod/web1/a b":     {`contains ' '`},
		"prod/web1/app:1":   {`contains ':'`},
	})
}

func TestValidateIrregularFiles(t *testing.T) {
	err := validateTree(t, goodTree(),
		store.Irregular{Path: "web1/nginx/current", Kind: "symlink"},
		store.Irregular{Path: "web1/nginx/run/sock", Kind: "socket"},
		store.Irregular{Path: "web1/nginx/null", Kind: "device"},
		store.Irregular{Path: "web1/linked-app", Kind: "symlink"},
	)
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/current":  {`is a symlink; only regular files and directories are deployed. Copy the file it points to in its place, or create the link on the host with "symlinks" in the app's manifest.json`},
		"prod/web1/nginx/run/sock": {"is a socket; only regular files and directories are deployed. Remove it"},
		"prod/web1/nginx/null":     {"is a device"},
		"prod/web1/linked-app":     {"is a symlink; hosts and apps must be real directories"},
	})
}

func TestValidateManifestIsStrict(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/nginx/manifest.json": `{"systemd": {"unit_enabled": ["nginx.service"]}}`,
		"web1/b/manifest.json":     `{"symlinks": []}`,
		"web1/c/manifest.json/x":   "a directory, not a file",
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/manifest.json": {`unknown key "unit_enabled"`},
		"prod/web1/b/manifest.json":     {"must be an object of strings, not a list"},
		"prod/web1/c/manifest.json":     {"must be a regular file"},
	})
}

func TestValidateSymlinkPaths(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/a/f": "x",
		"web1/a/manifest.json": `{"symlinks": {
			"etc/a": "f", "/etc/./b": "f", "/": "f", "": "f",
			"/etc/systemd/system/x.service": "f", "/etc/sysusers.d": "f",
			"/var/lib/deptool/apps/x": "f", "/etc/systemd": "f", "/etc/tab\t": "f",
			"/etc/containers/systemd/x.container": "f", "/etc/fine.conf": "f",
			"/run/systemd/system/x.service": "f", "/usr/lib/systemd/system/y.service": "f",
			"/lib/systemd/system": "f", "/usr/lib/sysusers.d/u.conf": "f", "/run/systemd/fine": "f"}}`,
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/a/manifest.json": {
			`symlink "": the link path is empty`,
			`symlink "/": cannot replace the root directory`,
			`symlink "/etc/./b": the link path is not clean; write it as "/etc/b"`,
			`symlink "/etc/containers/systemd/x.container": /etc/containers/systemd is managed by deptool`,
			`symlink "/etc/systemd": the link would replace /etc/systemd`,
			`symlink "/etc/systemd/system/x.service": /etc/systemd/system is managed by deptool; put unit files in the app's systemd/`,
			`symlink "/etc/sysusers.d": /etc/sysusers.d is managed by deptool; put sysusers files in the app's sysusers/`,
			`symlink "/etc/tab\t": the link path contains a control character`,
			`symlink "/lib/systemd/system": /lib/systemd/system is where systemd finds units`,
			`symlink "/run/systemd/system/x.service": /run/systemd/system is where systemd finds units: one linked there escapes deptool's enable, reload, check and rollback; put it in the app's systemd/ directory`,
			`symlink "/usr/lib/systemd/system/y.service": /usr/lib/systemd/system is where systemd finds units`,
			`symlink "/usr/lib/sysusers.d/u.conf": /usr/lib/sysusers.d is where systemd finds users`,
			`symlink "/var/lib/deptool/apps/x": /var/lib/deptool is managed by deptool`,
			`symlink "etc/a": the link path must be absolute`,
		},
	})
}

func TestValidateSymlinkTargets(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/a/conf/f": "x",
		"web1/a/manifest.json": `{"symlinks": {
			"/etc/1": "/abs", "/etc/2": "conf/../conf/f", "/etc/3": "../b/f", "/etc/4": "missing",
			"/etc/5": "conf", "/etc/6": "", "/etc/7": "conf/f/x", "/etc/8": "conf/f"}}`,
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/a/manifest.json": {
			`symlink "/etc/1": the target "/abs" must be relative`,
			`symlink "/etc/2": the target "conf/../conf/f" is not clean; write it as "conf/f"`,
			`symlink "/etc/3": the target "../b/f" leaves the app directory`,
			`symlink "/etc/4": the target "missing" is not a file in this app`,
			`symlink "/etc/5": the target "conf" is not a regular file`,
			`symlink "/etc/6": the target is empty`,
			`symlink "/etc/7": the target "conf/f/x" is not a file in this app`,
		},
	})
}

func TestValidateEnabledUnitsExist(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/nginx/manifest.json": `{"systemd": {"units_enabled": [
			"nginx.service", "missing.service", "nginx.service", "nginx", "nginx.service.d/limit.conf",
			"getty@tty2.service", "other@x.service"]}}`,
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/manifest.json": {
			`"missing.service", but systemd/missing.service does not exist`,
			`lists "nginx.service" twice`,
			`"nginx", which is not a unit name`,
			`"nginx.service.d/limit.conf", which is not a unit name`,
			`"other@x.service", but systemd/other@.service does not exist`,
		},
	})
}

func TestValidateSystemdDirHoldsUnits(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/nginx/systemd/README":                      "x",
		"web1/nginx/systemd/.service":                    "x",
		"web1/nginx/systemd/sub/x.service":               "x",
		"web1/nginx/systemd/nginx.service.d/notes.md":    "x",
		"web1/nginx/systemd/nginx.service.d/deep/a.conf": "x",
		"web1/nginx/systemd/a.timer":                     "x",
		"web1/b/systemd":                                 "a file, not a directory",
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/systemd/README":                   {"systemd/ holds unit files"},
		"prod/web1/nginx/systemd/.service":                 {"systemd/ holds unit files"},
		"prod/web1/nginx/systemd/sub":                      {"systemd/ holds unit files"},
		"prod/web1/nginx/systemd/nginx.service.d/notes.md": {"holds only *.conf files"},
		"prod/web1/nginx/systemd/nginx.service.d/deep":     {"holds only *.conf files"},
		"prod/web1/b/systemd":                              {"must be a directory"},
	})
}

func TestValidateSysusersAndQuadletDirs(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/nginx/sysusers/nginx.txt":       "x",
		"web1/nginx/sysusers/sub/a.conf":      "x",
		"web1/nginx/quadlets/cache.contianer": "x",
		"web1/nginx/quadlets/db.volume":       "x",
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/nginx/sysusers/nginx.txt":       {"sysusers/ holds only *.conf files"},
		"prod/web1/nginx/sysusers/sub":             {"sysusers/ holds only *.conf files"},
		"prod/web1/nginx/quadlets/cache.contianer": {"quadlets/ holds podman quadlet files"},
	})
}

func TestValidateAppsOnAHostDoNotConflict(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/other/manifest.json":                      `{"symlinks": {"/etc/nginx/nginx.conf": "f", "/etc/nginx/nginx.conf/x": "f", "/etc/own": "f"}}`,
		"web1/other/f":                                  "x",
		"web1/other/systemd/nginx.service":              "x",
		"web1/other/systemd/nginx.service.d/limit.conf": "x",
		"web1/other/systemd/nginx.service.d/other.conf": "x",
		"web1/other/sysusers/nginx.conf":                "x",
		"web1/other/quadlets/cache.container":           "x",
		// The same app on another host conflicts with nothing.
		"web2/nginx/nginx.conf":    "x",
		"web2/nginx/manifest.json": `{"symlinks": {"/etc/nginx/nginx.conf": "nginx.conf"}}`,
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/other/manifest.json": {
			`symlink /etc/nginx/nginx.conf is also claimed by app "nginx"`,
			`symlink /etc/nginx/nginx.conf/x is inside symlink /etc/nginx/nginx.conf of app "nginx"`,
		},
		"prod/web1/other/systemd/nginx.service":              {`unit file nginx.service is also claimed by app "nginx"`},
		"prod/web1/other/systemd/nginx.service.d/limit.conf": {`unit file nginx.service.d/limit.conf is also claimed`},
		"prod/web1/other/sysusers/nginx.conf":                {`sysusers file nginx.conf is also claimed`},
		"prod/web1/other/quadlets/cache.container":           {`quadlet cache.container is also claimed`},
	})
}

func TestValidateFilesOutsideApps(t *testing.T) {
	// A snapshot never puts files here, but a tree from elsewhere might.
	s := newStore(t)
	tree := buildTree(t, s, map[string]string{"README": "x", "web1/notes.txt": "x", "web1/a/f": "x"})
	err := Validate(s, &store.Snapshot{Tree: tree}, "prod")
	wantProblems(t, err, map[string][]string{
		"prod/README":         {"the top holds only host directories"},
		"prod/web1/notes.txt": {"put it in an app directory"},
	})
}

func TestValidationErrorListsEveryProblemInPathOrder(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web_2/a/f":                "",
		"web1/nginx/manifest.json": `{"systemd": {"units_enabled": ["gone.service"]}, "symlinks": {"/etc/sysusers.d/x": "nginx.conf"}}`,
	}), store.Irregular{Path: "web1/nginx/link", Kind: "symlink"})
	got := problemPaths(err)
	want := []string{"prod/web1/nginx/link", "prod/web1/nginx/manifest.json", "prod/web1/nginx/manifest.json", "prod/web_2"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("problem paths (-want +got):\n%s", d)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "4 problems in the config tree:\n  prod/web1/nginx/link: is a symlink") {
		t.Errorf("error text starts %q", msg)
	}
	if n := strings.Count(msg, "\n  prod/"); n != 4 {
		t.Errorf("error text has %d problem lines, want 4:\n%s", n, msg)
	}
}

func TestValidationErrorWithOneProblemIsOneLine(t *testing.T) {
	err := validateTree(t, with(map[string]string{"web1/nginx/manifest.json": `{"systemd": {"unit_enabled": []}}`}))
	want := `prod/web1/nginx/manifest.json: unknown key "unit_enabled" in "systemd" on line 1 (did you mean "units_enabled"?)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestLoadCluster(t *testing.T) {
	s := newStore(t)
	tree := buildTree(t, s, goodTree())
	c, err := LoadCluster(s, tree)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, h := range c.Hosts {
		hosts = append(hosts, h.Name)
	}
	if d := cmp.Diff([]string{"db1.example.com", "web1"}, hosts); d != "" {
		t.Errorf("hosts (-want +got):\n%s", d)
	}
	web1 := c.Host("web1")
	if web1 == nil || len(web1.Apps) != 2 || web1.Apps[0].Name != "nginx" || web1.Apps[1].Name != "node-exporter_1.8" {
		t.Fatalf("web1 = %+v", web1)
	}
	nginx := web1.Apps[0]
	if nginx.Tree != subtree(t, s, tree, "web1/nginx") {
		t.Error("nginx has the wrong tree id")
	}
	want := &App{
		Name: "nginx", Tree: nginx.Tree,
		Manifest: Manifest{
			Systemd:  SystemdManifest{UnitsEnabled: []string{"nginx.service", "getty@tty1.service"}},
			Symlinks: map[string]string{"/etc/nginx/nginx.conf": "nginx.conf"},
		},
		Units:    []string{"getty@.service", "nginx.service", "nginx.service.d/limit.conf"},
		Sysusers: []string{"nginx.conf"},
		Quadlets: []string{"cache.container", "cache.container.d/a.conf"},
	}
	if d := cmp.Diff(want, nginx); d != "" {
		t.Errorf("nginx (-want +got):\n%s", d)
	}
	if c.Host("db1.example.com") == nil || len(c.Host("db1.example.com").Apps) != 0 {
		t.Error("db1.example.com should be a host with no apps")
	}
	if c.Host("nope") != nil {
		t.Error("Host(nope) should be nil")
	}
}

func TestLoadClusterRefusesABadManifest(t *testing.T) {
	s := newStore(t)
	tree := buildTree(t, s, with(map[string]string{"web1/nginx/manifest.json": `{"x": 1}`}))
	_, err := LoadCluster(s, tree)
	if err == nil || !strings.HasPrefix(err.Error(), `web1/nginx/manifest.json: unknown key "x"`) {
		t.Errorf("got %v, want the manifest's path and the unknown key", err)
	}
}

// Identical apps load once; their problems must still be reported under
// every host that has them.
func TestValidateReportsSharedAppsOnEveryHost(t *testing.T) {
	bad := `{"systemd": {"units_enabled": ["gone.service"]}}`
	err := validateTree(t, map[string]string{
		"web1/a/manifest.json": bad, "web1/a/systemd/x": "",
		"web2/a/manifest.json": bad, "web2/a/systemd/x": "",
	})
	wantProblems(t, err, map[string][]string{
		"prod/web1/a/manifest.json": {"gone.service"},
		"prod/web1/a/systemd/x":     {"systemd/ holds unit files"},
		"prod/web2/a/manifest.json": {"gone.service"},
		"prod/web2/a/systemd/x":     {"systemd/ holds unit files"},
	})
}

func TestValidateChecks(t *testing.T) {
	err := validateTree(t, with(map[string]string{
		"web1/a/manifest.json": `{"checks": [
			{"http": "http://127.0.0.1:8080/healthz", "timeout": "5s"},
			{"tcp": "127.0.0.1"},
			{"http": "file:///etc/passwd"},
			{"tcp": "127.0.0.1:5432", "timeout": "forever"},
			{}]}`,
		"web1/a/systemd/a.service": "x",
		// An invalid check is reported together with the app's other
		// problems, not instead of them.
		"web1/b/manifest.json": `{"systemd": {"units_enabled": ["b.service"]}, "checks": [{"tcp": "db:5432", "expect_status": 200}]}`,
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/a/manifest.json": {
			`checks[1]: tcp "127.0.0.1": must be host:port`,
			`checks[2]: http "file:///etc/passwd": must start with http:// or https://`,
			`checks[3]: timeout "forever" is not a duration`,
			`checks[4]: names no probe`,
		},
		"prod/web1/b/manifest.json": {
			`units_enabled lists "b.service", but systemd/b.service does not exist`,
			"checks[0]: expect_status applies to http checks only",
		},
	})
}

func TestValidateRefusesAHugeManifest(t *testing.T) {
	huge := `{"symlinks": {"/etc/a": "f"}}` + strings.Repeat(" ", MaxManifestSize)
	err := validateTree(t, with(map[string]string{
		"web1/a/f":             "x",
		"web1/a/manifest.json": huge,
	}))
	wantProblems(t, err, map[string][]string{
		"prod/web1/a/manifest.json": {fmt.Sprintf("is %d bytes, more than the limit of %d (1 MiB)", len(huge), MaxManifestSize)},
	})
}

// Names Git's fsck refuses in a tree, and names no host file should have,
// are refused with the reason, at their path (escaped), and never reach
// the store: newStore has git fsck --strict check it.
func TestValidateNamesGitAndTerminalsRefuse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prod")
	for _, rel := range []string{
		"web1/app/.git/config", "web1/app/sub/.GIT/x", "web1/app/.git./x", "web1/app/git~1/x",
		"web1/app/.gitmodules", "web1/app/d/.GitModules ", "web1/app/gitmod~1",
		"web1/app/a\nb.conf", "web1/app/\x1b[31mred", "web1/app/\xffbad.conf",
		"git~1/app/f", "web1/GIT~1/f",
		"web1/app/ok.conf",
	} {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("[submodule \"x\"]\n\turl = --upload-pack=evil\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := newStore(t)
	snap, err := s.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(snap.Tree, "m", "op@x", time.Now()); err != nil {
		t.Fatal(err)
	}
	dotgit, modules := []string{"names Git's own .git directory", "git fsck"}, []string{"names .gitmodules"}
	err = Validate(s, snap, "prod")
	wantProblems(t, err, map[string][]string{
		"prod/web1/app/.git":           dotgit[:1],
		"prod/web1/app/sub/.GIT":       dotgit[:1],
		"prod/web1/app/.git.":          dotgit[:1],
		"prod/web1/app/git~1":          dotgit[1:],
		"prod/web1/app/.gitmodules":    modules,
		"prod/web1/app/d/.GitModules ": modules,
		"prod/web1/app/gitmod~1":       modules,
		"prod/web1/app/a\nb.conf":      {`control character '\n'`},
		"prod/web1/app/\x1b[31mred":    {`control character '\x1b'`},
		"prod/web1/app/\xffbad.conf":   {"not valid UTF-8"},
		"prod/git~1":                   dotgit[:1],
		"prod/web1/GIT~1":              dotgit[:1],
	})
	if strings.Count(err.Error(), "\n") != 12 {
		t.Errorf("the report has raw line breaks beyond its 12 problem lines:\n%s", err)
	}
	for _, quoted := range []string{`"prod/web1/app/a\nb.conf"`, `"prod/web1/app/\x1b[31mred"`, `"prod/web1/app/\xffbad.conf"`} {
		if !strings.Contains(err.Error(), quoted) {
			t.Errorf("the report does not show %s quoted:\n%s", quoted, err)
		}
	}
	if strings.ContainsAny(err.Error(), "\x1b") || strings.Contains(err.Error(), "\xff") {
		t.Errorf("the report carries a raw escape or invalid byte:\n%q", err)
	}
}
