package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
)

// Host indexes are machine-wide: two labs (two test binaries, or a test and
// a developer's `just lab-up`) must never pick the same addresses or veth
// names. An index is held by a slot file under RunDir/slots, which outlives
// the process that made it (the lab keeps running after `up` returns);
// RunDir/lock serialises allocation.
var RunDir = "/run/deptool-lab"

// maxIndex: I in 1..255 maps to 198.18.I.0/30, 256..510 to 198.19.(I-255).0/30.
const maxIndex = 510

type slot struct {
	Lab    string `json:"lab"`
	State  string `json:"state"`
	Host   string `json:"host"`
	BootID string `json:"boot_id"`
}

// addrs returns the machine side and the host side of index i's /30.
func addrs(i int) (machine, host netip.Addr) {
	b := [4]byte{198, 18, byte(i), 0}
	if i > 255 {
		b[1], b[2] = 19, byte(i-255)
	}
	base := netip.AddrFrom4(b)
	return base.Next(), base.Next().Next()
}

func vethName(i int) string { return "labv" + strconv.Itoa(i) }

func slotPath(i int) string { return filepath.Join(RunDir, "slots", strconv.Itoa(i)) }

// allocIndex reserves a free index for a host of lab st. record must save
// the index in the lab's state: it runs under the registry lock, because
// until the state mentions the index another allocator would take the slot
// for an orphan.
func allocIndex(st *labState, stateDir, host string, record func(int) error) (int, error) {
	if err := os.MkdirAll(filepath.Join(RunDir, "slots"), 0o755); err != nil {
		return 0, fmt.Errorf("index registry: %w", err)
	}
	l, err := flock(filepath.Join(RunDir, "lock"))
	if err != nil {
		return 0, fmt.Errorf("index registry: %w", err)
	}
	defer l.Close()
	rec, _ := json.Marshal(slot{Lab: st.ID, State: stateDir, Host: host, BootID: st.BootID})
	for i := 1; i <= maxIndex; i++ {
		if !slotFree(i) {
			continue
		}
		if err := os.WriteFile(slotPath(i), rec, 0o644); err != nil {
			return 0, fmt.Errorf("index registry: %w", err)
		}
		if err := record(i); err != nil {
			os.Remove(slotPath(i))
			return 0, err
		}
		return i, nil
	}
	return 0, fmt.Errorf("all %d host indexes are in use (see %s): tear down labs you no longer need with 'deptool-lab down --state DIR'", maxIndex, filepath.Join(RunDir, "slots"))
}

// slotFree reports whether index i may be taken: nobody holds it, or its
// holder is provably gone (the machine rebooted, or the holder's state no
// longer mentions it) and its veth does not exist.
func slotFree(i int) bool {
	if linkExists(vethName(i)) {
		return false
	}
	b, err := os.ReadFile(slotPath(i))
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	var s slot
	if err != nil || json.Unmarshal(b, &s) != nil {
		return false
	}
	if s.BootID != bootID() {
		return true
	}
	st, err := readState(s.State)
	if err != nil {
		return false
	}
	if st == nil || st.ID != s.Lab {
		return true
	}
	h := st.host(s.Host)
	return h == nil || h.Index != i
}

// freeIndex gives index i back if lab id still holds it.
func freeIndex(id string, i int) error {
	if i == 0 {
		return nil
	}
	l, err := flock(filepath.Join(RunDir, "lock"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("index registry: %w", err)
	}
	defer l.Close()
	b, err := os.ReadFile(slotPath(i))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var s slot
	if err != nil || json.Unmarshal(b, &s) != nil || s.Lab != id {
		return err
	}
	return os.Remove(slotPath(i))
}

func linkExists(name string) bool {
	_, err := os.Lstat("/sys/class/net/" + name)
	return err == nil
}
