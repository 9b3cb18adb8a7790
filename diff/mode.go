package diff

import (
	"fmt"

	"github.com/deptool/deptool/store"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// Mode is a file's mode in a plan: "file" or "executable". Anything else
// (which validation rejects) keeps Git's octal spelling so it is never lost.
type Mode filemode.FileMode

// MarshalText names the mode.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads a mode written by MarshalText.
func (m *Mode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "file":
		*m = Mode(store.ModeFile)
	case "executable":
		*m = Mode(store.ModeExecutable)
	case "dir":
		*m = Mode(store.ModeDir)
	default:
		fm, err := filemode.New(string(b))
		if err != nil {
			return fmt.Errorf("file mode %q: %w", b, err)
		}
		*m = Mode(fm)
	}
	return nil
}

func (m Mode) String() string {
	switch filemode.FileMode(m) {
	case store.ModeFile:
		return "file"
	case store.ModeExecutable:
		return "executable"
	case store.ModeDir:
		return "dir"
	}
	return fmt.Sprintf("%06o", uint32(m))
}
