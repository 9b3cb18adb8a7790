package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/deploy/wire"
)

// BinDirEnv names the directory holding deptool binaries for platforms
// other than the operator's own, as <os>-<arch>/deptool.
const BinDirEnv = "DEPTOOL_BIN_DIR"

// agentBinary is the deptool executable to run on hosts of one platform.
type agentBinary struct {
	platform string // "linux-amd64"
	blob     *transport.Blob
	build    string // first 12 hex digits of its SHA-256
}

// remotePath is where the binary lives on hosts: each build has its own
// file, so an upgrade never replaces a binary another deploy may be running.
func (b *agentBinary) remotePath() string { return wire.AgentPath(b.build) }

// binaries loads each platform's binary once per process.
type binaries struct {
	mu     sync.Mutex
	loaded map[string]*agentBinary
}

// forPlatform returns the binary for platform, e.g. "linux-amd64": the
// running executable for the operator's own platform, otherwise the one in
// $DEPTOOL_BIN_DIR.
func (b *binaries) forPlatform(platform string) (*agentBinary, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bin, ok := b.loaded[platform]; ok {
		return bin, nil
	}
	path, err := binaryPath(platform)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read agent binary for %s: %w", platform, err)
	}
	blob := transport.NewBlob(data)
	bin := &agentBinary{platform: platform, blob: blob, build: blob.SHA256()[:12]}
	if b.loaded == nil {
		b.loaded = map[string]*agentBinary{}
	}
	b.loaded[platform] = bin
	return bin, nil
}

func binaryPath(platform string) (string, error) {
	if platform == runtime.GOOS+"-"+runtime.GOARCH {
		return os.Executable()
	}
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		return "", fmt.Errorf("the host runs %s and this deptool is %s-%s: build deptool for %s and put it in $%s/%s/deptool",
			platform, runtime.GOOS, runtime.GOARCH, platform, BinDirEnv, platform)
	}
	path := filepath.Join(dir, platform, "deptool")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("the host runs %s: no agent binary for it: %w", platform, err)
	}
	return path, nil
}

// platformOf turns `uname -sm` output into Go's os-arch naming.
func platformOf(uname string) (string, error) {
	fields := strings.Fields(uname)
	if len(fields) != 2 {
		return "", fmt.Errorf("cannot tell the host's platform from uname %q", uname)
	}
	goos := strings.ToLower(fields[0])
	arch, ok := map[string]string{
		"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64",
		"armv7l": "arm", "i686": "386", "riscv64": "riscv64", "ppc64le": "ppc64le", "s390x": "s390x",
	}[fields[1]]
	if !ok {
		return "", fmt.Errorf("host architecture %q is not one deptool builds for", fields[1])
	}
	return goos + "-" + arch, nil
}

var localPlatform = runtime.GOOS + "-" + runtime.GOARCH
