package systemd

import (
	"os"
	"path/filepath"
	"testing"
)

// tree builds the layout deptool gives a host under root and returns the
// unit and apps directories.
func tree(t *testing.T) (unitDir, appsDir string) {
	t.Helper()
	root := t.TempDir()
	unitDir = filepath.Join(root, "etc/systemd/system")
	appsDir = filepath.Join(root, "var/lib/deptool/apps")
	v1 := filepath.Join(appsDir, "x/v1/systemd")
	for _, d := range []string{unitDir, v1, filepath.Join(unitDir, "multi-user.target.wants"), filepath.Join(unitDir, "sockets.target.requires")} {
		must(t, os.MkdirAll(d, 0o755))
	}
	for _, f := range []string{"x.service", "y@.service", "x.socket"} {
		must(t, os.WriteFile(filepath.Join(v1, f), []byte("[Unit]\n"), 0o644))
		must(t, os.Symlink(filepath.Join(appsDir, "x/current/systemd", f), filepath.Join(unitDir, f)))
	}
	must(t, os.Symlink("v1", filepath.Join(appsDir, "x/current")))
	return unitDir, appsDir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFixInstallLinksSurvivesGC(t *testing.T) {
	unitDir, appsDir := tree(t)
	v1 := filepath.Join(appsDir, "x/v1/systemd")
	wants := filepath.Join(unitDir, "multi-user.target.wants")
	// What systemd writes on enable (lab.md): the fully resolved path.
	must(t, os.Symlink(filepath.Join(v1, "x.service"), filepath.Join(wants, "x.service")))
	must(t, os.Symlink(filepath.Join(v1, "y@.service"), filepath.Join(wants, "y@a.service")))
	must(t, os.Symlink("../../../../var/lib/deptool/apps/x/v1/systemd/x.socket", filepath.Join(unitDir, "sockets.target.requires/x.socket")))
	must(t, os.Symlink(filepath.Join(v1, "x.service"), filepath.Join(unitDir, "x-alias.service")))
	// Not ours: left alone.
	must(t, os.Symlink("/lib/systemd/system/ssh.service", filepath.Join(wants, "ssh.service")))
	must(t, os.Symlink("/dev/null", filepath.Join(unitDir, "masked.service")))

	got, err := FixInstallLinks(unitDir, appsDir)
	must(t, err)
	want := map[string]string{
		filepath.Join(wants, "x.service"):                          filepath.Join(unitDir, "x.service"),
		filepath.Join(wants, "y@a.service"):                        filepath.Join(unitDir, "y@.service"),
		filepath.Join(unitDir, "sockets.target.requires/x.socket"): filepath.Join(unitDir, "x.socket"),
		filepath.Join(unitDir, "x-alias.service"):                  filepath.Join(unitDir, "x.service"),
	}
	if len(got) != len(want) {
		t.Errorf("rewrote %d links, want %d: %+v", len(got), len(want), got)
	}
	for _, r := range got {
		if want[r.Link] != r.New {
			t.Errorf("rewrote %s -> %s, want -> %s", r.Link, r.New, want[r.Link])
		}
	}
	for link, target := range want {
		if l, _ := os.Readlink(link); l != target {
			t.Errorf("%s -> %s, want %s", link, l, target)
		}
	}
	if l, _ := os.Readlink(filepath.Join(wants, "ssh.service")); l != "/lib/systemd/system/ssh.service" {
		t.Errorf("a link not into the apps was changed to %s", l)
	}
	if l, _ := os.Readlink(filepath.Join(unitDir, "x.service")); l != filepath.Join(appsDir, "x/current/systemd/x.service") {
		t.Errorf("deptool's own unit link was changed to %s", l)
	}

	// A deploy of v2 then GC of v1: the install links must still resolve.
	v2 := filepath.Join(appsDir, "x/v2/systemd")
	must(t, os.MkdirAll(v2, 0o755))
	for _, f := range []string{"x.service", "y@.service", "x.socket"} {
		must(t, os.WriteFile(filepath.Join(v2, f), []byte("[Unit]\n# v2\n"), 0o644))
	}
	must(t, os.Remove(filepath.Join(appsDir, "x/current")))
	must(t, os.Symlink("v2", filepath.Join(appsDir, "x/current")))
	must(t, os.RemoveAll(filepath.Join(appsDir, "x/v1")))
	for link := range want {
		b, err := os.ReadFile(link)
		if err != nil || string(b) != "[Unit]\n# v2\n" {
			t.Errorf("after GC, %s reads %q, %v; want v2's unit", link, b, err)
		}
	}

	// Idempotent: a second pass has nothing to do.
	again, err := FixInstallLinks(unitDir, appsDir)
	if err != nil || len(again) != 0 {
		t.Errorf("second pass = %+v, %v; want nothing", again, err)
	}
}

func TestFixInstallLinksRepairsDanglingAndKeepsUnfixable(t *testing.T) {
	unitDir, appsDir := tree(t)
	wants := filepath.Join(unitDir, "multi-user.target.wants")
	// Left dangling by an older deploy whose checkout is gone.
	must(t, os.Symlink(filepath.Join(appsDir, "x/v0/systemd/x.service"), filepath.Join(wants, "x.service")))
	// No unit link for gone.service in unitDir: nothing to point at.
	must(t, os.Symlink(filepath.Join(appsDir, "x/v0/systemd/gone.service"), filepath.Join(wants, "gone.service")))
	got, err := FixInstallLinks(unitDir, appsDir)
	must(t, err)
	if len(got) != 1 || got[0].New != filepath.Join(unitDir, "x.service") {
		t.Fatalf("got %+v, want only x.service repaired", got)
	}
	if _, err := os.Stat(filepath.Join(wants, "x.service")); err != nil {
		t.Errorf("repaired link does not resolve: %v", err)
	}
	if l, _ := os.Readlink(filepath.Join(wants, "gone.service")); l != filepath.Join(appsDir, "x/v0/systemd/gone.service") {
		t.Errorf("unfixable link changed to %s", l)
	}
	if m, _ := filepath.Glob(filepath.Join(wants, ".deptool-*")); len(m) != 0 {
		t.Errorf("temporary links left behind: %v", m)
	}
}

func TestFixInstallLinksMissingDir(t *testing.T) {
	if _, err := FixInstallLinks(filepath.Join(t.TempDir(), "nope"), "/var/lib/deptool/apps"); err == nil {
		t.Error("a missing unit directory is not an error")
	}
}
