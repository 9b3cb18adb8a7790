package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// dirent is one name in a directory and the type getdents reported for it,
// which saves an lstat for directories and for entries that are skipped.
type dirent struct {
	name string
	typ  uint8 // unix.DT_*; DT_UNKNOWN on file systems that do not say
}

// direntBufSize holds a few hundred names per getdents call; config
// directories are smaller than that.
const direntBufSize = 16 << 10

// readDirents lists the directory open as fd, sorted by name, without "."
// and "..". buf is scratch space the caller reuses.
func readDirents(fd int, buf []byte) ([]dirent, error) {
	var out []dirent
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		out = appendDirents(out, buf[:n])
	}
	slices.SortFunc(out, func(a, b dirent) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// appendDirents parses struct linux_dirent64 records: d_ino (8 bytes),
// d_off (8), d_reclen (2), d_type (1), then the NUL-terminated name.
func appendDirents(out []dirent, b []byte) []dirent {
	const nameOff = 19
	for len(b) >= nameOff {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < nameOff || reclen > len(b) {
			break
		}
		name := b[nameOff:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if s := string(name); s != "." && s != ".." {
			out = append(out, dirent{name: s, typ: b[18]})
		}
		b = b[reclen:]
	}
	return out
}
