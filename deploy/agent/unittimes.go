package agent

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// unitTimeDirs are the directories of an app whose files systemd reads
// through deptool's links: unit files and drop-ins, and quadlets (the
// generator's units name them as their SourcePath).
var unitTimeDirs = []string{"systemd", "quadlets"}

// keepUnitTimes gives every file under systemd/ and quadlets/ of the
// checkout dir that is identical (bytes and mode) to the same file in the
// checkout cur that file's modification time.
//
// systemd remembers the mtime of a unit's fragment, source and drop-ins
// when it loads them, and reports NeedDaemonReload ("changed on disk")
// once a file at those paths is newer. deptool's links resolve through
// current/ into the checkout, so a fresh checkout of an unchanged unit
// file would look changed after every deploy, and only a daemon-reload,
// costly on every host and every deploy, would quiet it. An unchanged file
// that keeps its time looks unchanged, as it is. A file that did change
// keeps its new time: the plan reloads for it.
func keepUnitTimes(dir, cur string) error {
	var errs []error
	for _, sub := range unitTimeDirs {
		root := filepath.Join(dir, sub)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			if t, ok := sameFileTime(p, filepath.Join(cur, rel)); ok {
				return os.Chtimes(p, time.Time{}, t) // zero atime: left as is
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sameFileTime returns old's mtime when the files at p and old hold the
// same bytes with the same mode.
func sameFileTime(p, old string) (time.Time, bool) {
	fo, err := os.Stat(old)
	if err != nil || !fo.Mode().IsRegular() {
		return time.Time{}, false
	}
	fn, err := os.Stat(p)
	if err != nil || fn.Size() != fo.Size() || fn.Mode() != fo.Mode() || fn.ModTime().Equal(fo.ModTime()) {
		return time.Time{}, false
	}
	a, err := os.ReadFile(p)
	if err != nil {
		return time.Time{}, false
	}
	b, err := os.ReadFile(old)
	if err != nil || !bytes.Equal(a, b) {
		return time.Time{}, false
	}
	return fo.ModTime(), true
}
