package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
)

// Version is the protocol and release version both sides report in hello.
const Version = "0.1.0"

var buildHash = sync.OnceValue(func() string {
	path, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
})

// BuildHash identifies the running executable: the first 12 hex digits of
// its SHA-256. It is "" when the executable cannot be read, which the client
// treats as a mismatch: an unknown build is never assumed to match.
func BuildHash() string { return buildHash() }
