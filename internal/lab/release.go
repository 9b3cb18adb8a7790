package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Hosts boot this machine's own root by default. A host may instead boot a
// root of another Debian release, built once with mmdebstrap and cached on
// the machine: real fleets mix releases, and systemd's behaviour changes
// between them.

// ReleaseEnv names the environment variable that sets the release of test
// hosts whose name does not carry one (see Start).
const ReleaseEnv = "DEPTOOL_LAB_RELEASE"

// Releases lab hosts can boot, by code name, with their version number
// (also accepted as a name).
var Releases = map[string]string{
	"bullseye": "11",
	"bookworm": "12",
	"trixie":   "13",
}

// rootPackages go into every release root: what a lab host runs (systemd,
// D-Bus, sshd) and what the tests use on hosts (nginx, curl, sudo, git,
// flock and ps). Changing the list changes the cache key, so roots are
// rebuilt.
var rootPackages = []string{
	"ca-certificates", "curl", "dbus", "git", "iproute2", "libpam-systemd",
	"nginx", "openssh-server", "procps", "sudo", "systemd", "systemd-sysv",
	"util-linux",
}

// rootFormat is part of the cache key: bump it when the way roots are
// built changes in a way the package list does not show.
const rootFormat = "1"

// RootCache holds the built roots, one directory per release and package
// list: RootCache/RELEASE-HASH.
var RootCache = "/var/cache/deptool-lab/roots"

// mmdebstrapPath is the builder (tests put a stand-in here).
var mmdebstrapPath = "mmdebstrap"

// rootBuildTimeout bounds one mmdebstrap run (about 70 s here).
const rootBuildTimeout = 10 * time.Minute

// splitSpec splits a host argument NAME or NAME@RELEASE.
func splitSpec(spec string) (name, release string) {
	name, release, _ = strings.Cut(spec, "@")
	return name, release
}

// canonRelease turns a release name or number into its code name; ""
// (this machine's root) stays "".
func canonRelease(r string) (string, error) {
	if r == "" {
		return "", nil
	}
	if _, ok := Releases[r]; ok {
		return r, nil
	}
	for name, v := range Releases {
		if v == r {
			return name, nil
		}
	}
	var known []string
	for name, v := range Releases {
		known = append(known, name+" ("+v+")")
	}
	slices.Sort(known)
	return "", fmt.Errorf("lab: unknown release %q: use one of %s, or none for this machine's own root", r, strings.Join(known, ", "))
}

// rootKey names a release's root in the cache: it changes whenever what
// goes into the root does.
func rootKey(release string) string {
	h := sha256.Sum256([]byte(rootFormat + "\n" + release + "\n" + strings.Join(rootPackages, ",")))
	return release + "-" + hex.EncodeToString(h[:6])
}

// BuildRoot returns the root directory of release, building it first if
// the cache has none for the current package list. Builds are atomic (into
// a temporary directory, renamed when complete) and serialised per root by
// a lock, so concurrent callers build once and never see half a root.
// Progress, if set, gets mmdebstrap's output.
func BuildRoot(ctx context.Context, release string, progress io.Writer) (string, error) {
	release, err := canonRelease(release)
	if err != nil {
		return "", err
	}
	if release == "" {
		return "/", nil
	}
	key := rootKey(release)
	dir := filepath.Join(RootCache, key)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(RootCache, 0o755); err != nil {
		return "", fmt.Errorf("lab: root cache: %w", err)
	}
	lock, err := flock(filepath.Join(RootCache, "."+key+".lock"))
	if err != nil {
		return "", fmt.Errorf("lab: root cache: %w", err)
	}
	defer lock.Close()
	// Another process may have built it while this one waited.
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if _, err := exec.LookPath(mmdebstrapPath); err != nil {
		return "", errors.New("lab: mmdebstrap not found: run 'just lab-deps' (installs mmdebstrap, which builds the roots of other releases)")
	}
	ctx, cancel := context.WithTimeout(ctx, rootBuildTimeout)
	defer cancel()
	tmp, err := os.MkdirTemp(RootCache, ".build-"+key+"-")
	if err != nil {
		return "", fmt.Errorf("lab: root cache: %w", err)
	}
	// MkdirTemp makes it 0700; apt's sandbox user must get in, and the
	// root of a root is 0755.
	if err := os.Chmod(tmp, 0o755); err != nil {
		removeBuild(tmp)
		return "", fmt.Errorf("lab: root cache: %w", err)
	}
	start := time.Now()
	if err := mmdebstrap(ctx, release, tmp, progress); err != nil {
		removeBuild(tmp)
		return "", fmt.Errorf("lab: building the %s root with mmdebstrap: %w", release, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		removeBuild(tmp)
		return "", fmt.Errorf("lab: root cache: %w", err)
	}
	if progress != nil {
		fmt.Fprintf(progress, "lab: built the %s root in %s (%.0fs)\n", release, dir, time.Since(start).Seconds())
	}
	return dir, nil
}

// mmdebstrap builds release into dir. It runs in a mount namespace of its
// own (unshare -m), so the /proc, /sys and /dev it mounts inside the new
// root vanish with it even if it is killed half-way: nothing is left for a
// cleanup to delete through.
func mmdebstrap(ctx context.Context, release, dir string, progress io.Writer) error {
	args := []string{
		"--mount", "--propagation", "private", "--",
		mmdebstrapPath, "--variant=minbase", "--mode=root",
		"--include=" + strings.Join(rootPackages, ","),
		// Retries: CI's one chance at the mirror should survive a hiccup.
		`--aptopt=Acquire::Retries "3"`,
		// Documentation nobody reads in a lab host; smaller, faster roots.
		"--dpkgopt=path-exclude=/usr/share/man/*",
		"--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*",
		release, dir,
	}
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8"}
	var tailBuf tailWriter
	var out io.Writer = &tailBuf
	if progress != nil {
		out = io.MultiWriter(&tailBuf, progress)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// SIGTERM first: mmdebstrap then cleans up after itself.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return fmt.Errorf("%v; last output:\n%s", err, tailBuf.String())
	}
	return nil
}

// removeBuild deletes a failed build, unless something is still mounted
// below it (then deleting would reach into the mounted file system).
func removeBuild(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(unescapeMount(f[4])+"/", dir+"/") {
			return
		}
	}
	os.RemoveAll(dir)
}

// tailWriter keeps the last 4 KiB written to it, for error messages.
type tailWriter struct{ b []byte }

func (w *tailWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	if len(w.b) > 4096 {
		w.b = w.b[len(w.b)-4096:]
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	lines := strings.Split(strings.TrimRight(string(w.b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
