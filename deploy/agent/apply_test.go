package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/google/go-cmp/cmp"
)

const appsDir = "/var/lib/deptool/apps"

func TestCheckoutWritesFilesWithModesAndSwitchesLinks(t *testing.T) {
	h := newTestHost(t)
	one := files{"nginx.conf": "v1\n", "bin/reload*": "#!/bin/sh\n", "www/index.html": "one"}
	two := files{"nginx.conf": "v2\n", "bin/reload*": "#!/bin/sh\n", "www/index.html": "one"}
	d1 := h.deploy(apps{"nginx": one}).mustSucceed(t)
	t1 := h.appTree(one)
	dir := filepath.Join(appsDir, "nginx", t1)
	want := map[string]string{
		dir:                        "dir 755",
		dir + "/nginx.conf":        `644 0:0 "v1\n"`,
		dir + "/bin":               "dir 755",
		dir + "/bin/reload":        `755 0:0 "#!/bin/sh\n"`,
		dir + "/www":               "dir 755",
		dir + "/www/index.html":    `644 0:0 "one"`,
		appsDir + "/nginx":         "dir 755",
		appsDir + "/nginx/current": "-> " + t1,
		appsDir:                    "dir 755",
	}
	if diff := cmp.Diff(want, h.snapshot(appsDir)); diff != "" {
		t.Errorf("apps after the first deploy (-want +got):\n%s", diff)
	}
	if got := h.refs(); got.current != d1.commit || got.target != d1.commit {
		t.Errorf("refs %+v, want both at %s", got, d1.commit)
	}

	d2 := h.deploy(apps{"nginx": two}).mustSucceed(t)
	t2 := h.appTree(two)
	if got := h.readlink(appsDir + "/nginx/current"); got != t2 {
		t.Errorf("current -> %s, want %s", got, t2)
	}
	if got := h.readlink(appsDir + "/nginx/previous"); got != t1 {
		t.Errorf("previous -> %s, want %s", got, t1)
	}
	if got := h.read(appsDir + "/nginx/current/nginx.conf"); got != "v2\n" {
		t.Errorf("current nginx.conf = %q", got)
	}
	if got := h.refs(); got.current != d2.commit || got.target != d2.commit {
		t.Errorf("refs %+v, want both at %s", got, d2.commit)
	}
	wantJournal := []JournalEntry{
		{Operator: operator, Deploy: d1.deploy, To: d1.commit, Outcome: wire.Deployed},
		{Operator: operator, Deploy: d2.deploy, From: d1.commit, To: d2.commit, Outcome: wire.Deployed},
	}
	checkJournal(t, h.journal(), wantJournal)
}

// checkJournal compares journal lines, with times only required to grow.
func checkJournal(t *testing.T, got, want []JournalEntry) {
	t.Helper()
	for i := range got {
		if got[i].Time.IsZero() || (i > 0 && !got[i].Time.After(got[i-1].Time)) {
			t.Errorf("journal line %d: time %v", i, got[i].Time)
		}
		got[i].Time = want[min(i, len(want)-1)].Time
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("journal (-want +got):\n%s", diff)
	}
}

// Going back to a tree the host has reuses its checkout: nothing is
// written, only the links move.
func TestRevertReusesCheckout(t *testing.T) {
	h := newTestHost(t)
	one, two := files{"a.conf": "1"}, files{"a.conf": "2"}
	h.deploy(apps{"app": one}).mustSucceed(t)
	file := h.path(filepath.Join(appsDir, "app", h.appTree(one), "a.conf"))
	before, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	h.deploy(apps{"app": two}).mustSucceed(t)
	d := h.deploy(apps{"app": one}).mustSucceed(t)
	for _, e := range h.attempt().Effects {
		if e.Kind == EffectCheckout {
			t.Errorf("the revert wrote checkout %s again", e.Path)
		}
	}
	after, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the reused checkout's file was rewritten")
	}
	if got := h.readlink(appsDir + "/app/current"); got != h.appTree(one) {
		t.Errorf("current -> %s", got)
	}
	if got := h.readlink(appsDir + "/app/previous"); got != h.appTree(two) {
		t.Errorf("previous -> %s", got)
	}
	if h.refs().current != d.commit {
		t.Error("current ref did not move")
	}
}

// A failure mid-apply leaves target at the attempt and current at the last
// good commit; the next apply undoes the partial attempt first and ends in
// the same state as a clean deploy.
func TestFailedApplyIsConsistentAndNextApplyRepairs(t *testing.T) {
	h := newTestHost(t)
	v1 := apps{"a": files{"a.conf": "1"}, "b": files{"b.conf": "1"}}
	v2 := apps{"a": files{"a.conf": "2"}, "b": files{"b.conf": "2"}}
	d1 := h.deploy(v1).mustSucceed(t)

	h.noRollback = true // left as it failed, for the next apply to repair
	failing := h.opts
	failing.fault = func(e Effect) error {
		if e.Kind == EffectCheckout && e.App == "b" {
			return fmt.Errorf("write b.conf: %w", syscall.ENOSPC)
		}
		return nil
	}
	d2 := h.deployWith(failing, v2)
	if want := "app b: checkout: write b.conf: no space left on device"; d2.result.Outcome != wire.Failed || d2.result.Message() != want {
		t.Fatalf("result %+v, want failed with %q", d2.result, want)
	}
	if got := h.refs(); got.current != d1.commit || got.target != d2.commit {
		t.Errorf("refs %+v: want current %s (last good), target %s (attempted)", got, d1.commit, d2.commit)
	}
	if d2.result.Current != d1.commit || d2.result.Target != d2.commit {
		t.Errorf("result refs %+v", d2.result)
	}
	j := h.journal()
	checkJournal(t, j, []JournalEntry{
		{Operator: operator, Deploy: d1.deploy, To: d1.commit, Outcome: wire.Deployed},
		{Operator: operator, Deploy: d2.deploy, From: d1.commit, To: d2.commit,
			Outcome: wire.Failed, Error: "app b: checkout: write b.conf: no space left on device"},
	})
	att := h.attempt()
	if att.Outcome != wire.Failed || len(att.Effects) != 2 || att.Effects[1].Kind != EffectSwitch || att.Effects[1].App != "a" {
		t.Errorf("attempt record %+v", att)
	}

	// The same plan again (the operator's ref did not move) converges.
	d3 := h.deploy(v2).mustSucceed(t)
	if !hasStep(d3.progress, "repair") {
		t.Errorf("no repair step in %+v", d3.progress)
	}
	clean := newTestHost(t)
	clean.deploy(v1).mustSucceed(t)
	clean.deploy(v2).mustSucceed(t)
	if diff := cmp.Diff(clean.snapshot(appsDir), h.snapshot(appsDir)); diff != "" {
		t.Errorf("repaired host differs from a clean one (-clean +repaired):\n%s", diff)
	}
	if got := h.refs(); got.current != d3.commit || got.target != d3.commit {
		t.Errorf("refs %+v after the repair", got)
	}
}

func hasStep(ps []wire.Progress, step string) bool {
	for _, p := range ps {
		if p.Step == step {
			return true
		}
	}
	return false
}

func manifest(symlinks map[string]string) string {
	data, _ := json.Marshal(map[string]any{"symlinks": symlinks})
	return string(data)
}

func TestSymlinkPointsThroughCurrent(t *testing.T) {
	h := newTestHost(t)
	m := manifest(map[string]string{"/etc/nginx/nginx.conf": "nginx.conf"})
	h.deploy(apps{"nginx": files{"nginx.conf": "v1", "manifest.json": m}}).mustSucceed(t)
	want := h.path(appsDir + "/nginx/current/nginx.conf")
	if got := h.readlink("/etc/nginx/nginx.conf"); got != want {
		t.Errorf("link -> %s, want %s", got, want)
	}
	if got := h.read("/etc/nginx/nginx.conf"); got != "v1" {
		t.Errorf("through the link: %q", got)
	}
	h.deploy(apps{"nginx": files{"nginx.conf": "v2", "manifest.json": m}}).mustSucceed(t)
	if got := h.readlink("/etc/nginx/nginx.conf"); got != want {
		t.Errorf("after an update the link -> %s", got)
	}
	if got := h.read("/etc/nginx/nginx.conf"); got != "v2" {
		t.Errorf("after an update, through the link: %q", got)
	}
}

func TestRemovedAppGoesWithItsLinks(t *testing.T) {
	h := newTestHost(t)
	nginx := files{"nginx.conf": "n", "manifest.json": manifest(map[string]string{"/etc/nginx/nginx.conf": "nginx.conf"})}
	extra := files{"extra.conf": "e", "manifest.json": manifest(map[string]string{"/etc/extra.conf": "extra.conf"})}
	h.deploy(apps{"nginx": nginx, "extra": extra}).mustSucceed(t)
	if !h.exists("/etc/extra.conf") {
		t.Fatal("extra's link was not made")
	}
	h.write("/etc/unrelated.conf", "mine", 0o644)
	d := h.deploy(apps{"nginx": nginx}).mustSucceed(t)
	if h.exists("/etc/extra.conf") {
		t.Error("the removed app's link is still there")
	}
	if got := h.entries(appsDir); !cmp.Equal(got, []string{"nginx"}) {
		t.Errorf("apps dir holds %v, want only nginx", got)
	}
	if h.read("/etc/nginx/nginx.conf") != "n" || h.read("/etc/unrelated.conf") != "mine" {
		t.Error("removing an app touched what it does not own")
	}
	if h.refs().current != d.commit {
		t.Error("current did not move")
	}
}

// unlink only removes links into deptool's apps; a file the host put at
// the path since is left alone.
func TestUnlinkLeavesForeignFile(t *testing.T) {
	h := newTestHost(t)
	m := manifest(map[string]string{"/etc/a.conf": "a.conf"})
	h.deploy(apps{"a": files{"a.conf": "1", "manifest.json": m}}).mustSucceed(t)
	os.Remove(h.path("/etc/a.conf"))
	h.write("/etc/a.conf", "the admin's own", 0o644)
	h.deploy(apps{"a": files{"a.conf": "1"}}).mustSucceed(t)
	if got := h.read("/etc/a.conf"); got != "the admin's own" {
		t.Errorf("a foreign file was touched: %q", got)
	}
}

func TestAdoptsIdenticalFile(t *testing.T) {
	h := newTestHost(t)
	h.write("/etc/nginx/nginx.conf", "listen 80;\n", 0o640)
	if err := os.Chown(h.path("/etc/nginx/nginx.conf"), 123, 456); err != nil {
		t.Fatal(err)
	}
	m := manifest(map[string]string{"/etc/nginx/nginx.conf": "nginx.conf"})
	h.deploy(apps{"nginx": files{"nginx.conf": "listen 80;\n", "manifest.json": m}}).mustSucceed(t)
	if got := h.readlink("/etc/nginx/nginx.conf"); got != h.path(appsDir+"/nginx/current/nginx.conf") {
		t.Errorf("the file was not replaced by the link: -> %s", got)
	}
	if got := h.read("/var/lib/deptool/adopted/etc/nginx/nginx.conf"); got != "listen 80;\n" {
		t.Errorf("adopted copy %q", got)
	}
	var adopted *Adoption
	for _, e := range h.attempt().Effects {
		if e.Kind == EffectLink && e.Path == "/etc/nginx/nginx.conf" {
			adopted = e.Adopted
		}
	}
	want := &Adoption{
		Path: "/etc/nginx/nginx.conf", Copy: "/var/lib/deptool/adopted/etc/nginx/nginx.conf",
		Mode: 0o640, UID: 123, GID: 456, SHA256: sha256Hex([]byte("listen 80;\n")),
	}
	if diff := cmp.Diff(want, adopted); diff != "" {
		t.Errorf("adoption record (-want +got):\n%s", diff)
	}
}

// An attempt that adopted a file, made links and directories, then failed
// is undone exactly: the host outside deptool's directory is as before.
func TestUndoRestoresAdoptedFileAndRemovesLinks(t *testing.T) {
	h := newTestHost(t)
	h.write("/etc/nginx/nginx.conf", "listen 80;\n", 0o640)
	os.Chown(h.path("/etc/nginx/nginx.conf"), 123, 456)
	before := h.snapshot("/", "/var/lib/deptool")
	m := manifest(map[string]string{"/etc/nginx/nginx.conf": "nginx.conf", "/srv/www/site/index.html": "index.html"})
	h.noRollback = true // left as it failed, for Undo
	failing := h.opts
	failing.fault = func(e Effect) error {
		if e.Kind == EffectLink && e.Path == "/srv/www/site/index.html" {
			return syscall.EIO
		}
		return nil
	}
	d := h.deployWith(failing, apps{"nginx": files{"nginx.conf": "listen 80;\n", "index.html": "hi", "manifest.json": m}})
	if d.result.Outcome != wire.Failed || !strings.HasPrefix(d.result.Message(), "app nginx: symlink /srv/www/site/index.html: ") {
		t.Fatalf("result %+v", d.result)
	}
	if !h.exists("/srv/www/site") || h.readlink("/etc/nginx/nginx.conf") == "" {
		t.Fatal("the attempt did not get as far as the test needs")
	}
	att, err := Undo(h.root)
	if err != nil {
		t.Fatal(err)
	}
	if !att.Undone || !h.attempt().Undone {
		t.Error("the attempt is not marked undone")
	}
	if diff := cmp.Diff(before, h.snapshot("/", "/var/lib/deptool")); diff != "" {
		t.Errorf("host after undo (-before +after):\n%s", diff)
	}
	if h.exists(appsDir + "/nginx") {
		t.Error("the app the attempt added is still there")
	}
	// Undoing again changes nothing, and a success is never undone.
	if _, err := Undo(h.root); err != nil {
		t.Errorf("second undo: %v", err)
	}
	h.deploy(apps{"nginx": files{"nginx.conf": "listen 80;\n", "index.html": "hi", "manifest.json": m}}).mustSucceed(t)
	if _, err := Undo(h.root); err == nil {
		t.Error("a successful attempt was undone")
	}
}

func TestDifferentFileRefusedAndHostUntouched(t *testing.T) {
	h := newTestHost(t)
	h.write("/etc/nginx/nginx.conf", "hand edited\n", 0o644)
	if err := os.Symlink("/usr/share/doc/motd", h.path("/etc/motd")); err != nil {
		t.Fatal(err)
	}
	skip := []string{"/var/lib/deptool/store", "/var/lib/deptool/journal.jsonl", "/var/lib/deptool/lock"}
	before := h.snapshot("/", skip...)
	m := manifest(map[string]string{"/etc/nginx/nginx.conf": "nginx.conf", "/etc/motd": "motd", "/etc/fine.conf": "motd"})
	d := h.deploy(apps{"nginx": files{"nginx.conf": "listen 80;\n", "motd": "hi", "manifest.json": m}})
	if d.result.Outcome != wire.Failed {
		t.Fatal("a different file was overwritten")
	}
	for _, s := range []string{
		"app nginx: symlink /etc/nginx/nginx.conf: a different file is already there",
		"sha256 " + sha256Hex([]byte("hand edited\n")) + " on the host",
		sha256Hex([]byte("listen 80;\n")) + " in the config tree's nginx/nginx.conf",
		"move it away or make the config tree's file identical",
		"app nginx: symlink /etc/motd: a symlink to /usr/share/doc/motd is already there",
	} {
		if !strings.Contains(d.result.Message(), s) {
			t.Errorf("error does not say %q:\n%s", s, d.result.Message())
		}
	}
	if diff := cmp.Diff(before, h.snapshot("/", skip...)); diff != "" {
		t.Errorf("a refused apply changed the host (-before +after):\n%s", diff)
	}
	if got := h.refs(); got != (refs{}) {
		t.Errorf("refs moved: %+v", got)
	}
	if j := h.journal(); len(j) != 1 || j[0].Outcome != wire.Failed {
		t.Errorf("journal %+v, want one failed line", j)
	}
}

func TestGCKeepsCurrentPreviousAndNewestFive(t *testing.T) {
	h := newTestHost(t)
	var trees []string
	for i := 1; i <= 7; i++ {
		if i == 7 {
			h.write(appsDir+"/app/.tmp-0123456789ab-42/x", "half written", 0o644)
		}
		fs := files{"v.conf": fmt.Sprint(i)}
		trees = append(trees, h.appTree(fs))
		h.deploy(apps{"app": fs}).mustSucceed(t)
	}
	want := append([]string{".", "current", "previous"}, trees[2:]...)
	got := append([]string{"."}, h.entries(appsDir+"/app")...)
	if !sameSet(got, want) {
		t.Errorf("after 7 deploys the app holds %v, want current, previous and the newest five", got)
	}
	if h.readlink(appsDir+"/app/current") != trees[6] || h.readlink(appsDir+"/app/previous") != trees[5] {
		t.Error("current or previous wrong")
	}

	// With one kept, previous survives even though it is not the newest.
	h2 := newTestHost(t)
	h2.opts.Keep = 1
	var t2 []string
	for i := 1; i <= 3; i++ {
		fs := files{"v.conf": fmt.Sprint(i)}
		t2 = append(t2, h2.appTree(fs))
		h2.deploy(apps{"app": fs}).mustSucceed(t)
	}
	if got := h2.entries(appsDir + "/app"); !sameSet(got, []string{"current", "previous", t2[1], t2[2]}) {
		t.Errorf("keep 1: app holds %v", got)
	}
}

func sameSet(a, b []string) bool {
	return cmp.Equal(a, b, cmp.Transformer("sort", func(s []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range s {
			m[x] = true
		}
		return m
	}))
}
