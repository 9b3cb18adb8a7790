package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
)

// Upload writes data to path on the host as a root-owned file with the
// given permission bits, creating missing parent directories. The data is
// written to a temporary name beside path, its SHA-256 checked on the
// host, flushed to disk and only then renamed into place: a reader of path
// sees the old file or the whole new one, never a torn or corrupt one.
func (c *Conn) Upload(ctx context.Context, dst string, data []byte, mode os.FileMode) error {
	if !path.IsAbs(dst) || path.Clean(dst) != dst || dst == "/" {
		return fmt.Errorf("host %s: upload %s: want a clean absolute file path", c.host, dst)
	}
	if mode&^os.ModePerm != 0 {
		return fmt.Errorf("host %s: upload %s: mode %v: only permission bits are supported", c.host, dst, mode)
	}
	sum := sha256.Sum256(data)
	script := uploadScript(dst, hex.EncodeToString(sum[:]), mode)
	_, err := c.run(ctx, script, "upload "+dst, bytes.NewReader(data))
	return err
}

// uploadScript receives the data on stdin. The temporary name carries a
// random part, so two deploys uploading the same file cannot write into
// each other's temp file; the EXIT trap removes it on any failure.
func uploadScript(dst, sum string, mode os.FileMode) string {
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
		`cat > "$t"`,
		fmt.Sprintf(`chmod %04o "$t"`, mode.Perm()),
		`got=$(sha256sum < "$t")`,
		`got=${got%% *}`,
		fmt.Sprintf(`if [ "$got" != %s ]; then echo "SHA-256 on the host is $got, sent %s: the transfer was corrupted" >&2; exit 1; fi`, sum, sum),
		`sync -- "$t"`,
		`mv -f -T -- "$t" ` + q(dst),
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
