package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// syncDir makes a directory's entries (creations, renames) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic replaces path with data: written to a temp name, synced,
// renamed. A crash leaves either the old file or the new one.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// The agent runs as root, and the paths of manifest links lie in
// directories other users may control (/tmp, a service's own directory).
// A user who puts a symlink where deptool expects a directory (/tmp/cfg ->
// /root) must not make deptool create, replace or remove anything at the
// other end. So the functions below never resolve a path: they open each
// directory on the way from / with O_NOFOLLOW, relative to the one before,
// and act on the last with the *at calls, which do not follow the final
// name either. A symlink on the way is an error naming it; the fix is to
// name the real path. Temp names are random, so nobody can take one first.

// LinkInPathError is a symlink where deptool needs a directory.
type LinkInPathError struct{ Path string }

func (e *LinkInPathError) Error() string {
	return fmt.Sprintf("%s is a symlink, and deptool does not follow links it did not make: name the real path instead", e.Path)
}

// openDir opens the directory at the absolute path dir without following
// any symlink on the way. create, when set, is called for each missing
// directory (its path) before it is made, 0755; without it a missing one
// is fs.ErrNotExist.
func openDir(dir string, create func(path string) error) (*os.File, error) {
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	cur := "/"
	for _, name := range strings.Split(filepath.Clean(dir), "/") {
		if name == "" {
			continue
		}
		next := filepath.Join(cur, name)
		nfd, err := openDirAt(fd, name)
		if errors.Is(err, unix.ENOENT) && create != nil {
			if err = create(next); err == nil {
				if err = unix.Mkdirat(fd, name, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
					nfd, err = openDirAt(fd, name)
				}
			}
		}
		if err != nil {
			var st unix.Stat_t
			if unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = &LinkInPathError{Path: next}
			} else if errno, ok := err.(unix.Errno); ok {
				err = &fs.PathError{Op: "open", Path: next, Err: errno}
			}
			unix.Close(fd)
			return nil, err
		}
		unix.Close(fd)
		fd, cur = nfd, next
	}
	return os.NewFile(uintptr(fd), cur), nil
}

func openDirAt(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// parentOf opens the directory holding path, as openDir does, and returns
// it with path's last element.
func parentOf(path string) (*os.File, string, error) {
	d, err := openDir(filepath.Dir(path), nil)
	return d, filepath.Base(path), err
}

// lstat is os.Lstat following no symlink on the way.
func lstat(path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	d, name, err := parentOf(path)
	if err != nil {
		return st, err
	}
	defer d.Close()
	if err := unix.Fstatat(int(d.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	return st, nil
}

func isLink(st unix.Stat_t) bool    { return st.Mode&unix.S_IFMT == unix.S_IFLNK }
func isRegular(st unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFREG }
func isDir(st unix.Stat_t) bool     { return st.Mode&unix.S_IFMT == unix.S_IFDIR }

// openNoFollow opens the file at path for reading, following no symlink
// on the way or at the end.
func openNoFollow(path string) (*os.File, error) {
	d, name, err := parentOf(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	fd, err := unix.Openat(int(d.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// tempName is a name beside others that nobody can guess and take first.
func tempName(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// setSymlink points path at target, replacing whatever link is there in one
// rename, so a reader sees the old target or the new one, never nothing.
func setSymlink(path, target string) error {
	d, name, err := parentOf(path)
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	if cur, err := readlinkAt(fd, name); err == nil && cur == target {
		return nil
	}
	tmp := tempName(".tmp-link-" + name)
	if err := unix.Symlinkat(target, fd, tmp); err != nil {
		return &fs.PathError{Op: "symlink", Path: path, Err: err}
	}
	if err := unix.Renameat(fd, tmp, fd, name); err != nil {
		unix.Unlinkat(fd, tmp, 0)
		return &fs.PathError{Op: "rename", Path: path, Err: err}
	}
	return d.Sync()
}

// removeSymlink removes the link at path if there is one; nothing there is
// fine, anything else an error.
func removeSymlink(path string) error {
	d, name, err := parentOf(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	if !isLink(st) {
		return &fs.PathError{Op: "remove", Path: path, Err: errors.New("not a symlink")}
	}
	if err := unix.Unlinkat(fd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	return d.Sync()
}

// removeEmptyDir removes the directory at path if it is there and empty.
func removeEmptyDir(path string) error {
	d, name, err := parentOf(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	err = unix.Unlinkat(int(d.Fd()), name, unix.AT_REMOVEDIR)
	if err == nil || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
		return nil // gone, or something else was put in it since: it stays
	}
	return &fs.PathError{Op: "remove", Path: path, Err: err}
}

// readlink returns a symlink's target, or "" when path is not a symlink,
// does not exist, or is reached only through a symlink.
func readlink(path string) string {
	d, name, err := parentOf(path)
	if err != nil {
		return ""
	}
	defer d.Close()
	t, err := readlinkAt(int(d.Fd()), name)
	if err != nil {
		return ""
	}
	return t
}

func readlinkAt(dirfd int, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// bare strips an *fs.PathError of its absolute path, for messages that name
// the path themselves, relative to something the operator knows.
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
