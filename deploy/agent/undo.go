package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/deptool/deptool/deploy/wire"
	"golang.org/x/sys/unix"
)

// Undo reverses the file-level effects of the last attempt under root
// (checkouts switched, links made or removed, files adopted, apps removed),
// newest first, and marks it undone. It moves no ref: current still names
// the last good commit. Units are not its business (an apply's rollback
// and repair see to them, see unitRollback). An attempt that
// succeeded is refused: go back by applying the previous commit. The
// caller must hold the host's lock.
func Undo(root string) (*Attempt, error) {
	l := layout{root: root}
	att, err := loadAttempt(l)
	if err != nil || att == nil || att.Undone {
		return att, err
	}
	if att.Outcome == wire.Deployed {
		return att, fmt.Errorf("the last attempt (%s) succeeded: roll back by applying the previous commit", att.To.String()[:12])
	}
	return att, undo(l, att)
}

func undo(l layout, att *Attempt) error {
	if err := undoFiles(l, att); err != nil {
		return err
	}
	att.Undone = true
	return att.save(l)
}

// undoFiles reverses the attempt's file-level effects, newest first,
// without marking it undone: a rollback has units to see to after.
func undoFiles(l layout, att *Attempt) error {
	for i := len(att.Effects) - 1; i >= 0; i-- {
		e := att.Effects[i]
		if err := undoEffect(l, e); err != nil {
			return fmt.Errorf("undo %s %s%s: %w", e.Kind, e.App, e.Path, err)
		}
	}
	return nil
}

// undoEffect reverses one effect if it happened and nobody changed the
// thing since. Each case can run twice: an undo may be interrupted too.
func undoEffect(l layout, e Effect) error {
	appDir := l.appDir(e.App)
	switch e.Kind {
	case EffectCheckout:
		if readlink(filepath.Join(appDir, "current")) == "" {
			return removeDir(appDir) // the app came with this attempt
		}
	case EffectSwitch:
		if e.OldCurrent == "" {
			return removeDir(appDir)
		}
		if err := setSymlink(filepath.Join(appDir, "current"), e.OldCurrent); err != nil {
			return err
		}
		if e.OldPrevious == "" {
			return removeSymlink(filepath.Join(appDir, "previous"))
		}
		return setSymlink(filepath.Join(appDir, "previous"), e.OldPrevious)
	case EffectMkdir:
		return removeEmptyDir(l.host(e.Path))
	case EffectLink:
		return undoLink(l, e)
	case EffectUnlink:
		p := l.host(e.Path)
		if _, err := lstat(p); errors.Is(err, fs.ErrNotExist) {
			return setSymlink(p, e.OldTarget)
		}
	case EffectRemoveApp:
		trash := filepath.Join(l.appsDir(), e.Path)
		if _, err := os.Lstat(appDir); !errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if _, err := os.Lstat(trash); err != nil {
			return nil
		}
		return os.Rename(trash, appDir)
	}
	return nil
}

func undoLink(l layout, e Effect) error {
	p := l.host(e.Path)
	if readlink(p) != e.Target {
		return nil // never made, or someone changed it since
	}
	switch {
	case e.OldTarget != "":
		return setSymlink(p, e.OldTarget)
	case e.Adopted != nil:
		return restoreAdopted(l, e.Adopted)
	}
	return removeSymlink(p)
}

// restoreAdopted puts an adopted file back as it was, in place of its
// link, in one rename.
func restoreAdopted(l layout, ad *Adoption) error {
	cp := l.host(ad.Copy)
	sum, err := sha256File(cp)
	if err != nil {
		return fmt.Errorf("read the copy of %s: %w", ad.Path, err)
	}
	if sum != ad.SHA256 {
		return fmt.Errorf("the copy of %s at %s changed (sha256 %s, adopted %s): restore it by hand", ad.Path, ad.Copy, sum, ad.SHA256)
	}
	data, err := os.ReadFile(cp)
	if err != nil {
		return err
	}
	p := l.host(ad.Path)
	d, name, err := parentOf(p)
	if err != nil {
		return hostErr(l, err)
	}
	defer d.Close()
	fd := int(d.Fd())
	tmp := tempName(".tmp-restore-" + name)
	if err := writeOwned(fd, tmp, data, ad); err != nil {
		unix.Unlinkat(fd, tmp, 0)
		return err
	}
	if err := unix.Renameat(fd, tmp, fd, name); err != nil {
		unix.Unlinkat(fd, tmp, 0)
		return &fs.PathError{Op: "rename", Path: p, Err: err}
	}
	if err := d.Sync(); err != nil {
		return err
	}
	os.Remove(cp) // back where it was: adopted/ holds only files now replaced
	return nil
}

// writeOwned writes a new file in the directory dirfd with an adopted
// file's owner and mode. Owner first: chown clears setuid and setgid bits.
func writeOwned(dirfd int, name string, data []byte, ad *Adoption) error {
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &fs.PathError{Op: "create", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chown(ad.UID, ad.GID)
	}
	if err == nil {
		err = f.Chmod(ad.Mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
