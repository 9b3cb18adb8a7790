package agent

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// gcStep deletes what a successful apply left behind.
type gcStep struct {
	*env
	hs   *hostStore
	keep int                    // checkouts kept per app
	exe  func() (string, error) // the running agent binary, which stays
}

// run deletes what a successful apply left behind: removed apps, temp
// files of interrupted writes, per app the checkouts beyond the newest
// Keep, never current or previous, and the agent binaries other than the
// two newest and the running one. It returns the bytes freed. Its failures
// are warnings: the apply already succeeded.
func (a gcStep) run() int64 {
	var freed int64
	entries, err := os.ReadDir(a.l.appsDir())
	if err != nil && !os.IsNotExist(err) {
		a.warn(fmt.Errorf("gc: %w", err))
	}
	for _, e := range entries {
		name := e.Name()
		var err error
		switch {
		case strings.HasPrefix(name, trashPrefix), strings.HasPrefix(name, ".tmp-"):
			var n int64
			n, err = removeCounted(filepath.Join(a.l.appsDir(), name), os.RemoveAll)
			freed += n
		case e.IsDir() && !strings.HasPrefix(name, "."):
			var n int64
			n, err = gcApp(a.l.appDir(name), a.keep)
			freed += n
		}
		if err != nil {
			a.warn(fmt.Errorf("gc: %w", err))
		}
	}
	n, err := gcBinaries(a.l.binDir(), a.exe)
	freed += n
	if err != nil {
		a.warn(fmt.Errorf("gc: agent binaries: %w", err))
	}
	n, err = a.gcStore()
	freed += n
	if err != nil {
		a.warn(fmt.Errorf("gc: host store %s: %w", a.l.storeDir(), err))
	}
	return freed
}

// repackAt is how many packs the host store may hold before gc rewrites it
// as one. Every deploy adds a pack; rewriting costs a pass over the host's
// whole history (0.63 s for 6.2 MB of incompressible history, about 0.1 s
// per MB, on the 2-core test machine: store's BenchmarkRepack), so it is
// done once per so many deploys, not on each.
const repackAt = 10

// gcStore removes what interrupted pack writes left, and past repackAt
// packs keeps only what current and target reach, in one pack: the
// objects of attempts rolled back and the copies a repair sent are gone.
func (a gcStep) gcStore() (int64, error) {
	freed, err := a.st.CleanPacks()
	if err != nil || a.st.Packs() <= repackAt {
		return freed, err
	}
	r, err := a.hs.refs()
	if err != nil {
		return freed, err
	}
	n, err := a.st.Repack(r.current, r.target)
	return freed + n, err
}

// keepBinaries is how many agent binaries gc keeps, newest first.
const keepBinaries = 2

// gcBinaries removes the agent binaries in dir other than the keepBinaries
// most recently modified and the running one (named by exe).
func gcBinaries(dir string, exe func() (string, error)) (int64, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var running os.FileInfo
	if exe != nil {
		if p, err := exe(); err == nil {
			running, _ = os.Stat(p)
		}
	}
	type bin struct {
		name string
		info os.FileInfo
	}
	var bins []bin
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue // temp files of an upload in progress, and anything not ours
		}
		info, err := e.Info()
		if err != nil {
			return 0, err
		}
		bins = append(bins, bin{e.Name(), info})
	}
	sort.Slice(bins, func(i, j int) bool {
		a, b := bins[i].info.ModTime(), bins[j].info.ModTime()
		if !a.Equal(b) {
			return a.After(b)
		}
		return bins[i].name > bins[j].name
	})
	var freed int64
	for i, b := range bins {
		if i < keepBinaries || (running != nil && os.SameFile(running, b.info)) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, b.name)); err != nil {
			return freed, err
		}
		freed += b.info.Size()
	}
	return freed, nil
}

// removeCounted removes path with remove and returns the bytes its
// regular files held.
func removeCounted(path string, remove func(string) error) (int64, error) {
	size := diskSize(path)
	if err := remove(path); err != nil {
		return 0, err
	}
	return size, nil
}

// diskSize sums the sizes of the regular files under path.
func diskSize(path string) int64 {
	var n int64
	filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

type checkoutAge struct {
	name  string
	mtime time.Time
}

// gcApp keeps current, previous and the keep most recently deployed
// checkouts of one app, and returns the bytes freed.
func gcApp(appDir string, keep int) (int64, error) {
	var freed int64
	entries, err := os.ReadDir(appDir)
	if err != nil {
		return 0, err
	}
	cur := readlink(filepath.Join(appDir, "current"))
	prev := readlink(filepath.Join(appDir, "previous"))
	var checkouts []checkoutAge
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			n, err := removeCounted(filepath.Join(appDir, name), os.RemoveAll)
			if err != nil {
				return freed, err
			}
			freed += n
			continue
		}
		if !e.IsDir() || !isTreeName(name) {
			continue // current, previous, and anything not ours
		}
		info, err := e.Info()
		if err != nil {
			return freed, err
		}
		checkouts = append(checkouts, checkoutAge{name, info.ModTime()})
	}
	sort.Slice(checkouts, func(i, j int) bool {
		a, b := checkouts[i], checkouts[j]
		if !a.mtime.Equal(b.mtime) {
			return a.mtime.After(b.mtime)
		}
		return a.name < b.name
	})
	for i, c := range checkouts {
		if i < keep || c.name == cur || c.name == prev {
			continue
		}
		n, err := removeCounted(filepath.Join(appDir, c.name), removeDir)
		if err != nil {
			return freed, err
		}
		freed += n
	}
	return freed, nil
}

// isTreeName reports whether name is a tree id, as checkouts are named.
func isTreeName(name string) bool {
	if len(name) != 40 {
		return false
	}
	for _, c := range name {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
