package agent

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy/wire"
)

// A local user points /tmp/cfg at /root; a manifest link at
// /tmp/cfg/app.conf is refused, naming the symlink, and nothing appears at
// the other end.
func TestLinkThroughASymlinkedParentIsRefused(t *testing.T) {
	h := newTestHost(t)
	if err := os.MkdirAll(h.path("/root"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(h.path("/tmp"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(h.path("/root"), h.path("/tmp/cfg")); err != nil {
		t.Fatal(err)
	}
	d := h.deploy(apps{"app": {"app.conf": "x\n", "manifest.json": manifest(map[string]string{"/tmp/cfg/app.conf": "app.conf"})}})
	if d.result.Outcome != wire.Failed || !strings.Contains(d.result.Message(), "/tmp/cfg is a symlink, and deptool does not follow links it did not make") {
		t.Fatalf("result %+v", d.result)
	}
	if !strings.Contains(d.result.Message(), "nothing was changed on the host") {
		t.Errorf("refused after changing something: %s", d.result.Message())
	}
	if h.exists("/root/app.conf") {
		t.Error("/root/app.conf was created through the symlink")
	}

	// Also where the link is further down, under directories to create.
	d = h.deploy(apps{"app": {"app.conf": "x\n", "manifest.json": manifest(map[string]string{"/tmp/cfg/sub/app.conf": "app.conf"})}})
	if d.result.Outcome != wire.Failed || !strings.Contains(d.result.Message(), "/tmp/cfg is a symlink") || h.exists("/root/sub") {
		t.Fatalf("result %+v", d.result)
	}
}

// A link deptool made, whose directory someone later replaced with a
// symlink, is not removed through it: the agent removes only what it
// reaches without following links.
func TestUnlinkDoesNotFollowAReplacedParent(t *testing.T) {
	h := newTestHost(t)
	h.deploy(apps{"app": {"app.conf": "x\n", "manifest.json": manifest(map[string]string{"/etc/app/app.conf": "app.conf"})}}).mustSucceed(t)
	// The directory swapped for a symlink to one holding a link into the
	// apps, as if it were deptool's.
	if err := os.MkdirAll(h.path("/other"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(h.path("/etc/app/app.conf"), h.path("/other/app.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(h.path("/etc/app")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(h.path("/other"), h.path("/etc/app")); err != nil {
		t.Fatal(err)
	}
	h.deploy(apps{"app": {"app.conf": "x\n"}}).mustSucceed(t)
	if h.readlink("/other/app.conf") == "" {
		t.Error("the link behind the symlinked directory was removed")
	}
}

// Temp names are random: a file a local user put at the name deptool used
// to use does not make the deploy fail.
func TestTempNamesCannotBeTakenFirst(t *testing.T) {
	h := newTestHost(t)
	if err := os.MkdirAll(h.path("/etc/.tmp-link-app.conf/x"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.deploy(apps{"app": {"app.conf": "x\n", "manifest.json": manifest(map[string]string{"/etc/app.conf": "app.conf"})}}).mustSucceed(t)
	if got := h.read("/etc/app.conf"); got != "x\n" {
		t.Errorf("/etc/app.conf = %q", got)
	}
}

// A state directory others can write (a pre-existing 1777) is refused
// before anything changes, with what to do.
func TestStateDirWritableByOthersIsRefused(t *testing.T) {
	h := newTestHost(t)
	if err := os.Chmod(h.path(stateDir), os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	r := h.start(h.opts)
	r.hello(t)
	err := r.client.Lock(context.Background(), wire.LockRequest{Operator: operator})
	if err == nil || !strings.Contains(err.Error(), "/var/lib/deptool is writable by other users (dtrwxrwxrwx)") || !strings.Contains(err.Error(), "chmod 755") {
		t.Fatalf("lock with a 1777 state dir: %v", err)
	}
	if h.exists(stateDir + "/lock") {
		t.Error("the lock file was created in the unsafe directory")
	}
}

// A missing state directory is created 0755.
func TestStateDirCreated0755(t *testing.T) {
	h := newTestHost(t)
	if err := os.RemoveAll(h.path(stateDir)); err != nil {
		t.Fatal(err)
	}
	r := h.start(h.opts)
	r.hello(t)
	if err := r.client.Lock(context.Background(), wire.LockRequest{Operator: operator}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(h.path(stateDir))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("state dir %v %v, want 0755", fi.Mode(), err)
	}
}

// A managed link someone removed or replaced on the host is noticed by the
// next apply of its app, although the plan does not touch it: made again,
// with a warning, or refused when something foreign is in its way.
func TestReplacedLinkIsNoticed(t *testing.T) {
	h := newTestHost(t)
	m := manifest(map[string]string{"/etc/app.conf": "app.conf", "/etc/other.conf": "other.conf"})
	h.deploy(apps{"app": {"app.conf": "v1\n", "other.conf": "o\n", "manifest.json": m}}).mustSucceed(t)
	if err := os.Remove(h.path("/etc/app.conf")); err != nil {
		t.Fatal(err)
	}
	d := h.deploy(apps{"app": {"app.conf": "v2\n", "other.conf": "o\n", "manifest.json": m}}).mustSucceed(t)
	if got := h.read("/etc/app.conf"); got != "v2\n" {
		t.Errorf("/etc/app.conf = %q after the apply, want the link made again", got)
	}
	var warned bool
	for _, p := range d.progress {
		warned = warned || p.Step == "warning" && strings.Contains(p.Detail, "/etc/app.conf was changed on the host")
	}
	if !warned {
		t.Errorf("no warning about the removed link: %+v", d.progress)
	}

	// Replaced by a file of its own: refused before anything changes.
	if err := os.Remove(h.path("/etc/other.conf")); err != nil {
		t.Fatal(err)
	}
	h.write("/etc/other.conf", "local edit\n", 0o644)
	d = h.deploy(apps{"app": {"app.conf": "v3\n", "other.conf": "o\n", "manifest.json": m}})
	if d.result.Outcome != wire.Failed || !strings.Contains(d.result.Message(), "symlink /etc/other.conf: a different file is already there") {
		t.Fatalf("result %+v", d.result)
	}
	if got := h.read("/etc/app.conf"); got != "v2\n" {
		t.Errorf("a refused apply changed /etc/app.conf: %q", got)
	}
}
