package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/crypto/blake2b"
)

// Blob is data to upload, with its checksums computed once however many
// hosts receive it.
type Blob struct {
	data    []byte
	sha256  string
	blake2b string
}

// NewBlob prepares data for upload.
func NewBlob(data []byte) *Blob {
	s := sha256.Sum256(data)
	b := blake2b.Sum512(data)
	return &Blob{data: data, sha256: hex.EncodeToString(s[:]), blake2b: hex.EncodeToString(b[:])}
}

// SHA256 is the hex SHA-256 of the blob.
func (b *Blob) SHA256() string { return b.sha256 }

// Upload writes the blob to dst on the host as a root-owned file with the
// given permission bits, creating missing parent directories. The data is
// written to a temporary name beside dst, its checksum verified on the
// host, flushed to disk and only then renamed into place: a reader of dst
// sees the old file or the whole new one, never a torn or corrupt one.
func (c *Conn) Upload(ctx context.Context, dst string, b *Blob, mode os.FileMode) error {
	script, err := c.uploadScript(dst, b, mode)
	if err != nil {
		return err
	}
	_, err = c.run(ctx, script, "upload "+dst, b.reader())
	return err
}

// UploadAndStart uploads the blob as Upload does and then, in the same
// session, starts cmd with the rest of the session's stdin and stdout: a
// first contact costs one login instead of two. A failed upload shows as
// the process's exit error.
func (c *Conn) UploadAndStart(ctx context.Context, dst string, b *Blob, mode os.FileMode, cmd string) (*Process, error) {
	script, err := c.uploadScript(dst, b, mode)
	if err != nil {
		return nil, err
	}
	p, err := c.start(ctx, script+"\n"+cmd, "upload "+dst)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(p.Stdin, b.reader()); err != nil {
		p.Close()
		if werr := p.Wait(); werr != nil {
			return nil, werr
		}
		return nil, fmt.Errorf("upload %s: %w", dst, err)
	}
	return p, nil
}

func (b *Blob) reader() io.Reader { return bytes.NewReader(b.data) }

func (c *Conn) uploadScript(dst string, b *Blob, mode os.FileMode) (string, error) {
	if !path.IsAbs(dst) || path.Clean(dst) != dst || dst == "/" {
		return "", fmt.Errorf("upload %s: want a clean absolute file path", dst)
	}
	if mode&^os.ModePerm != 0 {
		return "", fmt.Errorf("upload %s: mode %v: only permission bits are supported", dst, mode)
	}
	return uploadScript(dst, b, mode), nil
}

// uploadScript receives exactly the blob's length on stdin, so the session
// can go on to other work after it. The temporary name carries a random
// part, so two deploys uploading the same file cannot write into each
// other's temp file; the EXIT trap removes it on any failure. BLAKE2b
// (b2sum) is checked where the host has it, for it is four times faster
// than sha256sum on a 10 MB agent; SHA-256 otherwise.
func uploadScript(dst string, b *Blob, mode os.FileMode) string {
	rnd := make([]byte, 6)
	rand.Read(rnd)
	tmp := fmt.Sprintf("%s/.%s.deptool-%s", path.Dir(dst), path.Base(dst), hex.EncodeToString(rnd))
	q := shellQuote
	return strings.Join([]string{
		"set -e",
		"umask 022",
		"mkdir -p -- " + q(path.Dir(dst)),
		"t=" + q(tmp),
		`trap 'rm -f -- "$t"' EXIT`,
		fmt.Sprintf(`head -c %d > "$t"`, len(b.data)),
		fmt.Sprintf(`chmod %04o "$t"`, mode.Perm()),
		fmt.Sprintf(`if command -v b2sum >/dev/null 2>&1; then sum=b2sum want=%s; else sum=sha256sum want=%s; fi`, b.blake2b, b.sha256),
		`got=$($sum < "$t")`,
		`got=${got%% *}`,
		`if [ "$got" != "$want" ]; then echo "$sum on the host is $got, sent $want: the transfer was corrupted or cut short" >&2; exit 1; fi`,
		`sync -- "$t"`,
		`mv -f -T -- "$t" ` + q(dst),
		`trap - EXIT`,
	}, "\n")
}

// Exists reports whether path names anything on the host (a dangling
// symlink counts).
func (c *Conn) Exists(ctx context.Context, p string) (bool, error) {
	q := shellQuote(p)
	_, err := c.run(ctx, "test -e "+q+" || test -L "+q, "exists "+p, nil)
	var ee *ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.Status == 1 && ee.Stderr == "":
		return false, nil
	}
	return false, err
}
