package diff

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/deptool/deptool/store"
	"github.com/google/go-cmp/cmp"
)

func blobID(t *testing.T, s *store.Store, data string) store.ID {
	t.Helper()
	id, err := s.WriteBlob([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

const (
	fileMode = Mode(store.ModeFile)
	execMode = Mode(store.ModeExecutable)
)

func TestPlanNewHost(t *testing.T) {
	s := newStore(t)
	tree := buildTree(t, s, map[string]string{
		"web1/caddy/Caddyfile":             "example.com\n",
		"web1/caddy/manifest.json":         `{"systemd": {"units_enabled": ["caddy.service"]}, "symlinks": {"/etc/caddy/Caddyfile": "Caddyfile"}}`,
		"web1/caddy/systemd/caddy.service": "[Service]\n",
		"web1/caddy/sysusers/caddy.conf":   "u caddy - -\n",
	})
	p := mustPlan(t, s, tree, PlanOptions{})
	web1 := subtree(t, s, tree, "web1")
	want := &Plan{Tree: tree, Hosts: []HostPlan{{
		Host: "web1", New: true, From: store.EmptyTree, To: web1,
		Apps: []AppPlan{{
			App: "caddy", Action: Add, To: subtree(t, s, tree, "web1/caddy"),
			Files: []FileChange{
				{Op: Add, Path: "Caddyfile", New: blobID(t, s, "example.com\n"), NewMode: fileMode},
				{Op: Add, Path: "manifest.json", New: subtree(t, s, tree, "web1/caddy/manifest.json"), NewMode: fileMode},
				{Op: Add, Path: "systemd/caddy.service", New: blobID(t, s, "[Service]\n"), NewMode: fileMode},
				{Op: Add, Path: "sysusers/caddy.conf", New: blobID(t, s, "u caddy - -\n"), NewMode: fileMode},
			},
			Symlinks: []SymlinkStep{{Op: Link, Path: "/etc/caddy/Caddyfile", Target: "Caddyfile"}},
			Sysusers: []LinkStep{{Op: Link, Name: "caddy.conf"}},
			Units: []UnitStep{
				{Op: LinkUnit, Unit: "caddy.service"},
				{Op: Enable, Unit: "caddy.service"},
				{Op: Restart, Unit: "caddy.service"},
			},
		}},
		Sysusers: true, DaemonReload: true, Rollback: true,
	}}}
	if d := cmp.Diff(want, p); d != "" {
		t.Errorf("plan (-want +got):\n%s", d)
	}
}

func TestPlanUpToDateIsEmpty(t *testing.T) {
	s := newStore(t)
	tree := buildTree(t, s, map[string]string{"web1/a/f": "x", "web2/b/f": "y", "db1/": ""})
	deploy(t, s, tree, "web1", "web2")
	p := mustPlan(t, s, tree, PlanOptions{})
	if !p.Empty() || len(p.Untracked) != 0 {
		t.Errorf("plan = %+v, want nothing to do (db1 has no apps, so nothing to deploy)", p)
	}
}

func TestPlanRestartsEnabledUnitsOfAChangedApp(t *testing.T) {
	s := newStore(t)
	files := map[string]string{
		"web1/nginx/nginx.conf":                "a\n",
		"web1/nginx/manifest.json":             `{"systemd": {"units_enabled": ["nginx.service", "logrotate.timer"]}, "symlinks": {"/etc/nginx/nginx.conf": "nginx.conf"}}`,
		"web1/nginx/systemd/nginx.service":     "x",
		"web1/nginx/systemd/logrotate.timer":   "x",
		"web1/nginx/systemd/logrotate.service": "x",
	}
	deploy(t, s, buildTree(t, s, files), "web1")
	files["web1/nginx/nginx.conf"] = "b\n"
	tree := buildTree(t, s, files)
	p := mustPlan(t, s, tree, PlanOptions{})
	if len(p.Hosts) != 1 || len(p.Hosts[0].Apps) != 1 {
		t.Fatalf("plan = %+v", p)
	}
	h, a := p.Hosts[0], p.Hosts[0].Apps[0]
	wantUnits := []UnitStep{{Op: Restart, Unit: "logrotate.timer"}, {Op: Restart, Unit: "nginx.service"}}
	if d := cmp.Diff(wantUnits, a.Units); d != "" {
		t.Errorf("units (-want +got):\n%s", d)
	}
	wantFiles := []FileChange{{Op: Update, Path: "nginx.conf", Old: blobID(t, s, "a\n"), New: blobID(t, s, "b\n"), OldMode: fileMode, NewMode: fileMode}}
	if d := cmp.Diff(wantFiles, a.Files); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	if a.Action != Update || a.Symlinks != nil || h.New || h.DaemonReload || h.Sysusers || h.Base.IsZero() {
		t.Errorf("host plan = %+v; want an update with no links, no reload, no sysusers, and a base", h)
	}
}

func TestPlanUnitLifecycle(t *testing.T) {
	s := newStore(t)
	deploy(t, s, buildTree(t, s, map[string]string{
		"h/a/manifest.json":      `{"systemd": {"units_enabled": ["a.service", "b.service", "t@x.service"]}}`,
		"h/a/systemd/a.service":  "a",
		"h/a/systemd/b.service":  "b",
		"h/a/systemd/c.timer":    "c",
		"h/a/systemd/t@.service": "t",
		"h/a/systemd/s.service":  "s",
	}), "h")
	tree := buildTree(t, s, map[string]string{
		"h/a/manifest.json":            `{"systemd": {"units_enabled": ["a.service", "c.timer"]}}`,
		"h/a/systemd/a.service":        "a",
		"h/a/systemd/c.timer":          "c",
		"h/a/systemd/c.timer.d/x.conf": "x",
		"h/a/systemd/d.service":        "d",
	})
	p := mustPlan(t, s, tree, PlanOptions{})
	want := []UnitStep{
		{Op: Stop, Unit: "b.service"},
		{Op: Stop, Unit: "s.service"}, // removed, though never enabled: it may run
		{Op: Stop, Unit: "t@x.service"},
		{Op: Disable, Unit: "b.service"},
		{Op: Disable, Unit: "t@x.service"},
		{Op: UnlinkUnit, Unit: "b.service"},
		{Op: UnlinkUnit, Unit: "s.service"},
		{Op: UnlinkUnit, Unit: "t@.service"},
		{Op: LinkUnit, Unit: "c.timer.d/x.conf"},
		{Op: LinkUnit, Unit: "d.service"},
		{Op: Enable, Unit: "c.timer"},
		{Op: Restart, Unit: "a.service"},
		{Op: Restart, Unit: "c.timer"},
	}
	if d := cmp.Diff(want, p.Hosts[0].Apps[0].Units); d != "" {
		t.Errorf("units (-want +got):\n%s", d)
	}
	if !p.Hosts[0].DaemonReload {
		t.Error("unit files changed but no daemon-reload")
	}
}

func TestPlanRemoveApp(t *testing.T) {
	s := newStore(t)
	deploy(t, s, buildTree(t, s, map[string]string{
		"h/keep/f":                     "k",
		"h/old/f":                      "x",
		"h/old/manifest.json":          `{"systemd": {"units_enabled": ["old.service"]}, "symlinks": {"/etc/old": "f"}}`,
		"h/old/systemd/old.service":    "o",
		"h/old/sysusers/old.conf":      "u old - -",
		"h/old/quadlets/old.container": "c",
	}), "h")
	tree := buildTree(t, s, map[string]string{"h/keep/f": "k"})
	p := mustPlan(t, s, tree, PlanOptions{})
	if len(p.Hosts) != 1 || len(p.Hosts[0].Apps) != 1 {
		t.Fatalf("plan = %+v; want only app old", p)
	}
	h, a := p.Hosts[0], p.Hosts[0].Apps[0]
	var paths []string
	for _, f := range a.Files {
		if f.Op != Remove || !f.New.IsZero() || f.Old.IsZero() {
			t.Errorf("file change %+v, want a removal", f)
		}
		paths = append(paths, f.Path)
	}
	wantPaths := []string{"f", "manifest.json", "quadlets/old.container", "systemd/old.service", "sysusers/old.conf"}
	if d := cmp.Diff(wantPaths, paths); d != "" {
		t.Errorf("removed files (-want +got):\n%s", d)
	}
	if a.Action != Remove || !a.To.IsZero() {
		t.Errorf("app plan %+v, want a removal", a)
	}
	if d := cmp.Diff([]SymlinkStep{{Op: Unlink, Path: "/etc/old"}}, a.Symlinks); d != "" {
		t.Errorf("symlinks (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]LinkStep{{Op: Unlink, Name: "old.conf"}}, a.Sysusers); d != "" {
		t.Errorf("sysusers (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]LinkStep{{Op: Unlink, Name: "old.container"}}, a.Quadlets); d != "" {
		t.Errorf("quadlets (-want +got):\n%s", d)
	}
	wantUnits := []UnitStep{{Op: Stop, Unit: "old.service"}, {Op: Disable, Unit: "old.service"}, {Op: UnlinkUnit, Unit: "old.service"}}
	if d := cmp.Diff(wantUnits, a.Units); d != "" {
		t.Errorf("units (-want +got):\n%s", d)
	}
	if !h.DaemonReload || h.Sysusers {
		t.Errorf("daemon-reload %v, sysusers %v; want a reload (units went) and no sysusers run (nothing to create)", h.DaemonReload, h.Sysusers)
	}
}

func TestPlanSymlinkTargetChange(t *testing.T) {
	s := newStore(t)
	deploy(t, s, buildTree(t, s, map[string]string{
		"h/a/a.conf": "1", "h/a/b.conf": "1", "h/a/manifest.json": `{"symlinks": {"/etc/a": "a.conf", "/etc/b": "b.conf", "/etc/c": "a.conf"}}`,
	}), "h")
	tree := buildTree(t, s, map[string]string{
		"h/a/a.conf": "2", "h/a/b.conf": "1", "h/a/manifest.json": `{"symlinks": {"/etc/a": "a.conf", "/etc/b": "a.conf", "/etc/d": "b.conf"}}`,
	})
	p := mustPlan(t, s, tree, PlanOptions{})
	want := []SymlinkStep{
		{Op: Unlink, Path: "/etc/c"},
		{Op: Link, Path: "/etc/b", Target: "a.conf"},
		{Op: Link, Path: "/etc/d", Target: "b.conf"},
	}
	if d := cmp.Diff(want, p.Hosts[0].Apps[0].Symlinks); d != "" {
		t.Errorf("symlinks (-want +got):\n%s (a link whose target is unchanged follows current/ by itself)", d)
	}
}

func TestPlanModeOnlyChangeIsAnUpdate(t *testing.T) {
	s := newStore(t)
	deploy(t, s, buildFiles(t, s, map[string]file{"h/a/run.sh": {data: "#!/bin/sh\n"}}), "h")
	tree := buildFiles(t, s, map[string]file{"h/a/run.sh": {data: "#!/bin/sh\n", exec: true}})
	p := mustPlan(t, s, tree, PlanOptions{})
	id := blobID(t, s, "#!/bin/sh\n")
	want := []FileChange{{Op: Update, Path: "run.sh", Old: id, New: id, OldMode: fileMode, NewMode: execMode}}
	if d := cmp.Diff(want, p.Hosts[0].Apps[0].Files); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
}

func TestPlanFileReplacedByDirectory(t *testing.T) {
	s := newStore(t)
	deploy(t, s, buildTree(t, s, map[string]string{"h/a/x": "file", "h/a/y/z": "in dir"}), "h")
	tree := buildTree(t, s, map[string]string{"h/a/x/inner": "now a dir", "h/a/y": "now a file"})
	p := mustPlan(t, s, tree, PlanOptions{})
	var got []string
	for _, f := range p.Hosts[0].Apps[0].Files {
		got = append(got, string(f.Op)+" "+f.Path)
	}
	want := []string{"remove x", "add x/inner", "add y", "remove y/z"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
}

func TestPlanQuadletsAndSysusers(t *testing.T) {
	s := newStore(t)
	deploy(t, s, buildTree(t, s, map[string]string{
		"h/a/quadlets/web.container": "1", "h/a/sysusers/a.conf": "1", "h/a/sysusers/b.conf": "1",
	}), "h")
	tree := buildTree(t, s, map[string]string{
		"h/a/quadlets/web.container": "2", "h/a/quadlets/db.volume": "1", "h/a/sysusers/a.conf": "1",
	})
	p := mustPlan(t, s, tree, PlanOptions{})
	h := p.Hosts[0]
	if !h.DaemonReload {
		t.Error("quadlets changed but no daemon-reload")
	}
	if h.Sysusers {
		t.Error("a sysusers file was only removed, yet systemd-sysusers would run")
	}
	if d := cmp.Diff([]LinkStep{{Op: Link, Name: "db.volume"}}, h.Apps[0].Quadlets); d != "" {
		t.Errorf("quadlets (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]LinkStep{{Op: Unlink, Name: "b.conf"}}, h.Apps[0].Sysusers); d != "" {
		t.Errorf("sysusers (-want +got):\n%s", d)
	}

	changed := buildTree(t, s, map[string]string{"h/a/quadlets/web.container": "1", "h/a/sysusers/a.conf": "2", "h/a/sysusers/b.conf": "1"})
	if p := mustPlan(t, s, changed, PlanOptions{}); !p.Hosts[0].Sysusers || p.Hosts[0].DaemonReload {
		t.Errorf("changed sysusers file: sysusers %v, daemon-reload %v; want true, false", p.Hosts[0].Sysusers, p.Hosts[0].DaemonReload)
	}
}

// The planner must decide that hosts and apps are unchanged from their ids
// alone: that is what keeps planning a large cluster fast.
func TestPlanNeverOpensUnchangedTrees(t *testing.T) {
	s := newStore(t)
	files := map[string]string{
		"same/app/f":            "1",
		"mixed/same/f":          "1",
		"mixed/changed/f":       "1",
		"mixed/changed/sub/big": "unchanged subdirectory",
	}
	old := buildTree(t, s, files)
	deploy(t, s, old, "same", "mixed")
	files["mixed/changed/f"] = "2"
	tree := buildTree(t, s, files)

	src := newCounting(s)
	p, err := makePlan(src, tree, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Hosts) != 1 || p.Hosts[0].Host != "mixed" || len(p.Hosts[0].Apps) != 1 {
		t.Fatalf("plan = %+v; want only mixed/changed", p)
	}
	for _, path := range []string{"same", "same/app", "mixed/same", "mixed/changed/sub"} {
		if n := src.trees[subtree(t, s, tree, path)]; n != 0 {
			t.Errorf("the planner read unchanged tree %s %d times", path, n)
		}
	}
	if len(src.blobs) != 0 {
		t.Errorf("the planner read %d blobs; with no manifests it needs none", len(src.blobs))
	}
}

func TestPlanLimit(t *testing.T) {
	s := newStore(t)
	tree := buildTree(t, s, map[string]string{"web1/a/f": "1", "web2/a/f": "1", "db1/a/f": "1"})
	p := mustPlan(t, s, tree, PlanOptions{Limit: []string{"web2", "db1", "web2"}})
	var hosts []string
	for _, h := range p.Hosts {
		hosts = append(hosts, h.Host)
	}
	if d := cmp.Diff([]string{"db1", "web2"}, hosts); d != "" {
		t.Errorf("hosts (-want +got):\n%s", d)
	}

	_, err := MakePlan(s, tree, PlanOptions{Limit: []string{"web1", "web9", "app3"}})
	want := "unknown host web9 (did you mean web1?); unknown host app3: not in the config tree (hosts: db1, web1, web2)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestPlanLeavesHostsGoneFromTheTreeAlone(t *testing.T) {
	s := newStore(t)
	deploy(t, s, buildTree(t, s, map[string]string{"web1/a/f": "1", "old1/a/f": "1", "old2/a/f": "1"}), "web1", "old1", "old2")
	tree := buildTree(t, s, map[string]string{"web1/a/f": "2"})
	p := mustPlan(t, s, tree, PlanOptions{})
	if len(p.Hosts) != 1 || p.Hosts[0].Host != "web1" {
		t.Errorf("hosts = %+v, want web1 only", p.Hosts)
	}
	if d := cmp.Diff([]string{"old1", "old2"}, p.Untracked); d != "" {
		t.Errorf("untracked (-want +got):\n%s", d)
	}
	if p := mustPlan(t, s, tree, PlanOptions{Limit: []string{"web1"}}); p.Untracked != nil {
		t.Errorf("untracked with a limit = %v, want none", p.Untracked)
	}
}

func TestPlanNoRollback(t *testing.T) {
	s := newStore(t)
	tree := buildTree(t, s, map[string]string{"web1/a/f": "1", "web2/a/f": "1"})
	for _, no := range []bool{false, true} {
		p := mustPlan(t, s, tree, PlanOptions{NoRollback: no})
		for _, h := range p.Hosts {
			if h.Rollback == no {
				t.Errorf("NoRollback %v: host %s has Rollback %v", no, h.Host, h.Rollback)
			}
		}
	}
}

func TestPlanRefusesAnUnparsableManifest(t *testing.T) {
	s := newStore(t)
	tree := buildTree(t, s, map[string]string{"web1/a/manifest.json": `{"systemd": []}`})
	_, err := MakePlan(s, tree, PlanOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "web1/a/manifest.json: key systemd") {
		t.Errorf("got %v, want an error naming the manifest", err)
	}
}

func TestPlanJSONRoundTrips(t *testing.T) {
	s, tree := scenario(t)
	p := mustPlan(t, s, tree, PlanOptions{})
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(p, &back); d != "" {
		t.Errorf("plan after a JSON round trip (-want +got):\n%s", d)
	}
}

func TestPlanReportsAMissingTree(t *testing.T) {
	s := newStore(t)
	missing := store.ID(blobID(t, store.OpenMemory(), "not in s"))
	if _, err := MakePlan(s, missing, PlanOptions{}); err == nil || !strings.Contains(err.Error(), missing.String()) {
		t.Errorf("MakePlan of a missing tree: %v, want an error naming it", err)
	}
	err := Validate(s, &store.Snapshot{Tree: missing}, "prod")
	if _, ok := err.(*ValidationError); ok || err == nil {
		t.Errorf("Validate of a missing tree: %v, want a store error", err)
	}
}

// A repair plans a host on its recorded version as if it ran nothing:
// every app added again, its units linked, enabled and restarted, from
// the host's ref. Other hosts up to date stay out of the plan.
func TestPlanRepairAddsEveryAppAgainFromTheHostsRef(t *testing.T) {
	s := store.OpenMemory()
	files := map[string]string{
		"web1/nginx/manifest.json":         `{"systemd": {"units_enabled": ["nginx.service"]}}`,
		"web1/nginx/systemd/nginx.service": "x",
		"web2/b/f":                         "y",
	}
	tree := buildTree(t, s, files)
	deploy(t, s, tree, "web1", "web2")
	p := mustPlan(t, s, tree, PlanOptions{Repair: map[string]bool{"web1": true}})
	if len(p.Hosts) != 1 || p.Hosts[0].Host != "web1" || len(p.Hosts[0].Apps) != 1 {
		t.Fatalf("plan = %+v, want web1 alone", p)
	}
	h, a := p.Hosts[0], p.Hosts[0].Apps[0]
	if h.Base.IsZero() || h.New || h.From != h.To || a.Action != Add || !h.DaemonReload {
		t.Errorf("host plan = %+v; want web1's base, its own tree, the app added and a reload", h)
	}
	want := []UnitStep{{Op: LinkUnit, Unit: "nginx.service"}, {Op: Enable, Unit: "nginx.service"}, {Op: Restart, Unit: "nginx.service"}}
	if d := cmp.Diff(want, a.Units); d != "" {
		t.Errorf("units (-want +got):\n%s", d)
	}
}
