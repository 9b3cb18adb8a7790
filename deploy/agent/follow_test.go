package agent

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An unchanged unit file keeps its time across checkouts, so systemd
// does not see it as changed on disk; a changed one gets its own.
func TestUnchangedUnitFilesKeepTheirTime(t *testing.T) {
	h, _ := unitHost(t)
	v1 := files{
		"systemd/web.service":                 "[Service]\nExecStart=/bin/web\n",
		"systemd/web.service.d/override.conf": "[Service]\nEnvironment=A=1\n",
		"web.conf":                            "v1\n",
		"manifest.json":                       unitManifest([]string{"web.service"}, nil),
	}
	h.deploy(apps{"web": v1}).mustSucceed(t)
	mtime := func(p string) int64 {
		t.Helper()
		fi, err := os.Stat(h.path(p)) // through the links, as systemd looks
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime().UnixNano()
	}
	unit, dropIn := mtime("/etc/systemd/system/web.service"), mtime("/etc/systemd/system/web.service.d/override.conf")
	first := h.readlink(appsDir + "/web/current")

	v2 := files{}
	for k, v := range v1 {
		v2[k] = v
	}
	v2["web.conf"] = "v2\n"
	v2["systemd/web.service.d/override.conf"] = "[Service]\nEnvironment=A=2\n"
	h.deploy(apps{"web": v2}).mustSucceed(t)
	if h.readlink(appsDir+"/web/current") == first {
		t.Fatal("current did not move to a new checkout")
	}
	if got := mtime("/etc/systemd/system/web.service"); got != unit {
		t.Errorf("unchanged unit file: mtime %d, want the old checkout's %d", got, unit)
	}
	if got := mtime("/etc/systemd/system/web.service.d/override.conf"); got == dropIn {
		t.Error("the changed drop-in kept the old mtime; systemd would not see it changed")
	}
}

// BenchmarkKeepUnitTimes is the cost per checkout of keeping unit files'
// times: an app with 20 unit files and drop-ins, all unchanged.
func BenchmarkKeepUnitTimes(b *testing.B) {
	old, cur := b.TempDir(), b.TempDir()
	for _, d := range []string{old, cur} {
		if err := os.MkdirAll(d+"/systemd/x.service.d", 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range 20 {
			name := fmt.Sprintf("%s/systemd/u%d.service", d, i)
			if i%2 == 1 {
				name = fmt.Sprintf("%s/systemd/x.service.d/%d.conf", d, i)
			}
			if err := os.WriteFile(name, []byte(strings.Repeat("[Service]\nExecStart=/bin/true\n", 5)), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	fresh := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var names []string
	filepath.WalkDir(cur+"/systemd", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			names = append(names, p)
		}
		return err
	})
	for b.Loop() {
		// Every round starts as after a fresh checkout: every time differs.
		b.StopTimer()
		for _, p := range names {
			if err := os.Chtimes(p, time.Time{}, fresh); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := keepUnitTimes(cur, old); err != nil {
			b.Fatal(err)
		}
	}
}
