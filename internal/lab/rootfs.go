package lab

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

// Units of the machine's own root that a lab host does not start at boot.
// They stay installed, so a test may still start one by hand.
var disabledUnits = map[string]string{
	// 2.3 s of every boot and ~50 MiB per host; each host would also copy
	// the machine's whole cluster into its overlay on first write.
	"postgresql.service": "slow to start, heavy, not needed by the lab",
	// Periodic maintenance: in every host at once it would compete for the
	// CPU during tests, and apt-daily reaches for a network the lab does not
	// route, so it would fail mid-test.
	"apt-daily.timer":         "maintenance job, needs the internet",
	"apt-daily-upgrade.timer": "maintenance job, needs the internet",
	"dpkg-db-backup.timer":    "maintenance job",
	"e2scrub_all.timer":       "maintenance job, no block devices in a host",
	"fstrim.timer":            "maintenance job, no block devices in a host",
	"man-db.timer":            "maintenance job",
}

// Units masked in every host because they fail there for lab reasons (not
// because of anything deptool does).
var maskedUnits = map[string]string{}

// mountOverlay mounts the host's root (the machine's own, or a release's
// from the cache) read-only under a throwaway overlay whose upper and work
// directories live on tmpfs. nspawn refuses to boot / itself.
func mountOverlay(h *hostState) error {
	upper, work, root := filepath.Join(h.Dir, "upper"), filepath.Join(h.Dir, "work"), h.root()
	for _, d := range []string{upper, work, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
	}
	lower := h.Lower
	if lower == "" {
		lower = "/"
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlay: mount %s (%s): %w", root, opts, err)
	}
	return nil
}

// unmount detaches a mount the lab made; one that is already gone is fine.
func unmount(path string) error {
	err := unix.Unmount(path, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(path, unix.MNT_DETACH)
	}
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("unmount %s: %w", path, err)
}

// isMountPoint reports whether path is listed in this mount namespace.
func isMountPoint(path string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return true // unknown: assume mounted, so nothing deletes through it
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeMount(f[4]) == path {
			return true
		}
	}
	return false
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// prepareRoot makes the overlay a distinct host: its name, machine ID, SSH
// host key and the lab's client key, and the unit adjustments above.
func prepareRoot(h *hostState, hostKeyPEM []byte, clientPub []byte) error {
	root := h.root()
	mid := make([]byte, 16)
	rand.Read(mid)
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{"etc/hostname", []byte(h.Name + "\n"), 0o644},
		// The machine's own ID would make every host share one journal
		// identity and D-Bus machine ID.
		{"etc/machine-id", []byte(hex.EncodeToString(mid) + "\n"), 0o444},
		{"etc/ssh/ssh_host_ed25519_key", hostKeyPEM, 0o600},
		{"etc/ssh/ssh_host_ed25519_key.pub", []byte(h.HostKey + "\n"), 0o644},
		{"root/.ssh/authorized_keys", clientPub, 0o600},
	}
	if err := removeHostKeys(root); err != nil {
		return err
	}
	for _, f := range files {
		if err := writeRootFile(root, f.path, f.data, f.mode); err != nil {
			return err
		}
	}
	if err := quietBashrc(root); err != nil {
		return err
	}
	return adjustUnits(root)
}

// bashrcGuard ends .bashrc at once in a shell that is not interactive.
const bashrcGuard = "case $- in *i*) ;; *) return;; esac\n"

// quietBashrc puts bashrcGuard at the top of root's .bashrc in the overlay.
// bash reads .bashrc even for a command run by sshd (`ssh host true`), and
// this machine's (pyenv, cargo) costs 150-900 ms in every session: it would
// swamp what tests and benchmarks measure, for OpenSSH and Ansible more
// than for deptool. Interactive shells still read all of it.
func quietBashrc(root string) error {
	p := filepath.Join(root, "root/.bashrc")
	old, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	if strings.HasPrefix(string(old), bashrcGuard) {
		return nil
	}
	return writeRootFile(root, "root/.bashrc", append([]byte(bashrcGuard), old...), 0o644)
}

// removeHostKeys deletes the machine's host keys from the overlay: all
// hosts would otherwise share them, and only a fresh ed25519 key is made
// (RSA generation costs seconds per host).
func removeHostKeys(root string) error {
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return fmt.Errorf("root: %w", err)
		}
	}
	return nil
}

func writeRootFile(root, rel string, data []byte, mode os.FileMode) error {
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	os.Remove(p) // machine-id may be read-only
	if err := os.WriteFile(p, data, mode); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	return os.Chmod(p, mode)
}

func adjustUnits(root string) error {
	etc := filepath.Join(root, "etc/systemd/system")
	for unit := range disabledUnits {
		links, _ := filepath.Glob(filepath.Join(etc, "*.wants", unit))
		for _, l := range links {
			if err := os.Remove(l); err != nil {
				return fmt.Errorf("root: disable %s: %w", unit, err)
			}
		}
	}
	for unit := range maskedUnits {
		p := filepath.Join(etc, unit)
		os.Remove(p)
		if err := os.Symlink("/dev/null", p); err != nil {
			return fmt.Errorf("root: mask %s: %w", unit, err)
		}
	}
	return nil
}
