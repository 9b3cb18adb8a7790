package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// gc deletes what a successful apply left behind: removed apps, temp
// files of interrupted writes, and per app the checkouts beyond the newest
// Keep, never current or previous. Its failures are warnings: the apply
// already succeeded.
func (a *applier) gc() {
	entries, err := os.ReadDir(a.l.appsDir())
	if err != nil {
		if !os.IsNotExist(err) {
			a.warn(fmt.Errorf("gc: %w", err))
		}
		return
	}
	for _, e := range entries {
		name := e.Name()
		var err error
		switch {
		case strings.HasPrefix(name, trashPrefix), strings.HasPrefix(name, ".tmp-"):
			err = os.RemoveAll(filepath.Join(a.l.appsDir(), name))
		case e.IsDir() && !strings.HasPrefix(name, "."):
			err = gcApp(a.l.appDir(name), a.keep)
		}
		if err != nil {
			a.warn(fmt.Errorf("gc: %w", err))
		}
	}
}

type checkoutAge struct {
	name  string
	mtime time.Time
}

// gcApp keeps current, previous and the keep most recently deployed
// checkouts of one app.
func gcApp(appDir string, keep int) error {
	entries, err := os.ReadDir(appDir)
	if err != nil {
		return err
	}
	cur := readlink(filepath.Join(appDir, "current"))
	prev := readlink(filepath.Join(appDir, "previous"))
	var checkouts []checkoutAge
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			if err := os.RemoveAll(filepath.Join(appDir, name)); err != nil {
				return err
			}
			continue
		}
		if !e.IsDir() || !isTreeName(name) {
			continue // current, previous, and anything not ours
		}
		info, err := e.Info()
		if err != nil {
			return err
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
		if err := removeDir(filepath.Join(appDir, c.name)); err != nil {
			return err
		}
	}
	return nil
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
