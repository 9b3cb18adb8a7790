package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/deptool/deptool/diff/layout"
)

// Version is the protocol and release version both sides report in hello.
const Version = "0.1.0"

// AgentDir is where agents live on hosts.
const AgentDir = layout.AgentDir

// AgentPath is where the agent of a build lives on hosts. The operator
// renames an upload to it only once the host has checked its checksum, so
// an agent started from there may take its build from its own name.
func AgentPath(build string) string { return AgentDir + "/deptool-" + Version + "-" + build }

var buildHash = sync.OnceValue(func() string {
	path, err := os.Executable()
	if err != nil {
		return ""
	}
	if build, ok := buildFromPath(path); ok {
		return build
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

// buildFromPath reads the build from an installed agent's path, which
// saves hashing a 10 MB executable at every start of the agent.
func buildFromPath(path string) (string, bool) {
	if filepath.Dir(path) != AgentDir {
		return "", false
	}
	build, ok := strings.CutPrefix(filepath.Base(path), "deptool-"+Version+"-")
	if !ok || len(build) != 12 || strings.Trim(build, "0123456789abcdef") != "" {
		return "", false
	}
	return build, true
}

// BuildHash identifies the running executable: the first 12 hex digits of
// its SHA-256. It is "" when the executable cannot be read, which the client
// treats as a mismatch: an unknown build is never assumed to match.
func BuildHash() string { return buildHash() }
