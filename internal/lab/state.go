package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The state directory is the lab's memory: every resource is recorded
// there before it is created, so a `down` after a crash of the caller (or of
// `up` itself) finds everything, and tolerates what was never made.
const (
	stateFile      = "state.json"
	lockFile       = ".lock"
	sshConfigFile  = "ssh_config"
	knownHostsFile = "known_hosts"
	clientKeyFile  = "id_ed25519"
	stateVersion   = 1
)

type labState struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	BootID  string `json:"boot_id"`
	// Work holds the hosts' overlay upper and work directories (tmpfs).
	Work string `json:"work"`
	// CreatedDir: up made the state directory, so down may remove it.
	CreatedDir bool `json:"created_dir"`
	// Owner is the test binary that booted the lab through Start; once it
	// is gone, the lab is an orphan that the next test run may sweep.
	Owner *proc        `json:"owner,omitempty"`
	Hosts []*hostState `json:"hosts"`
}

type hostState struct {
	Name string `json:"name"`
	// Release is the Debian release the host boots ("" for this
	// machine's own root), Lower the root directory under its overlay.
	Release string `json:"release,omitempty"`
	Lower   string `json:"lower,omitempty"`
	Index   int    `json:"index,omitempty"`
	Machine string `json:"machine"`
	Netns   string `json:"netns,omitempty"`
	Veth    string `json:"veth,omitempty"`
	// Dir is the host's directory under Work: upper, work, root, log.
	Dir     string   `json:"dir,omitempty"`
	Mounts  []string `json:"mounts,omitempty"`
	Cgroups []string `json:"cgroups,omitempty"`
	Nspawn  proc     `json:"nspawn"`
	Init    proc     `json:"init"`
	HostKey string   `json:"host_key,omitempty"`
	Ready   bool     `json:"ready"`
	// Stopped: Stop ended the host's processes on purpose; its root,
	// network and cgroups remain for Start.
	Stopped bool `json:"stopped,omitempty"`
}

func (h *hostState) log() string  { return filepath.Join(h.Dir, "nspawn.log") }
func (h *hostState) root() string { return filepath.Join(h.Dir, "root") }

// readState loads DIR/state.json; a missing file yields (nil, nil).
func readState(dir string) (*labState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lab state: %w", err)
	}
	var st labState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("lab state %s is damaged (%v): remove the directory by hand after checking 'ip netns', 'mount' and /sys/fs/cgroup for leftovers", filepath.Join(dir, stateFile), err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("lab state %s has version %d, this deptool-lab understands %d", filepath.Join(dir, stateFile), st.Version, stateVersion)
	}
	return &st, nil
}

// writeState replaces DIR/state.json atomically: a caller killed mid-write
// leaves the previous complete state, never a torn one.
func writeState(dir string, st *labState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), append(b, '\n'), 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// flock takes an exclusive lock on path, creating it. The lock belongs to
// the open file and so dies with the process.
func flock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// host returns the recorded host called name, or nil.
func (st *labState) host(name string) *hostState {
	for _, h := range st.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// stale reports why a recorded lab no longer runs, or "" if every
// recorded host is still up.
func (st *labState) stale() string {
	if st.BootID != bootID() {
		return "the machine has rebooted since it was started"
	}
	for _, h := range st.Hosts {
		if !h.Ready {
			return fmt.Sprintf("host %s never finished booting (an interrupted 'up'?)", h.Name)
		}
		if !h.Stopped && !h.Init.alive() {
			return fmt.Sprintf("host %s is no longer running", h.Name)
		}
	}
	return ""
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
