package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// Attempt is what the host's last apply did, kept in attempt.json so that
// it can be undone exactly: by the next apply when this one failed or was
// interrupted, and by a rollback. Each effect is recorded before it is
// made, so an interrupted attempt is fully described; undoing an effect
// that never happened does nothing.
type Attempt struct {
	Operator string    `json:"operator"`
	Deploy   store.ID  `json:"deploy,omitzero"`
	From     store.ID  `json:"from,omitzero"` // current before the attempt
	To       store.ID  `json:"to"`            // the commit attempted
	Started  time.Time `json:"started"`
	// Outcome is empty while the apply runs, and stays so when the agent
	// died during it.
	Outcome wire.Outcome `json:"outcome,omitempty"`
	Error   string       `json:"error,omitempty"`
	// Undone is set once Undo reversed every effect.
	Undone  bool     `json:"undone,omitempty"`
	Effects []Effect `json:"effects"`
}

// EffectKind says what an effect changed.
type EffectKind string

// Effect kinds.
const (
	// EffectCheckout: a checkout directory was written (Path is its name
	// under apps/<App>/). Undoing leaves it to garbage collection.
	EffectCheckout EffectKind = "checkout"
	// EffectSwitch: the app's current and previous links moved.
	EffectSwitch EffectKind = "switch"
	// EffectMkdir: a directory was created to hold a manifest symlink.
	EffectMkdir EffectKind = "mkdir"
	// EffectLink: a manifest symlink was made at Path, pointing at Target;
	// it replaced a link to OldTarget, or an Adopted file, or nothing.
	EffectLink EffectKind = "link"
	// EffectUnlink: the manifest symlink at Path, to OldTarget, was removed.
	EffectUnlink EffectKind = "unlink"
	// EffectRemoveApp: the app's directory was moved aside to Path (under
	// apps/), to be deleted once the apply succeeds.
	EffectRemoveApp EffectKind = "remove_app"

	// Unit effects name a Unit of App. Undo (file-level) leaves them
	// alone; a rollback or repair reverses them with systemd (see
	// undoUnits). Unit files and drop-ins are linked with EffectLink and
	// EffectUnlink at paths under /etc/systemd/system.

	// EffectStop: the unit was stopped.
	EffectStop EffectKind = "stop"
	// EffectDisable: the unit was disabled.
	EffectDisable EffectKind = "disable"
	// EffectEnable: the unit was enabled.
	EffectEnable EffectKind = "enable"
	// EffectRestart: the unit was restarted.
	EffectRestart EffectKind = "restart"
	// EffectReload: the unit was reloaded, or started if it did not run.
	EffectReload EffectKind = "reload"
)

// Effect is one change an attempt made on the host. Paths of links and
// directories are host paths, as in manifests, without the agent's root.
type Effect struct {
	Kind      EffectKind `json:"kind"`
	App       string     `json:"app,omitempty"`
	Unit      string     `json:"unit,omitempty"`
	Path      string     `json:"path,omitempty"`
	Target    string     `json:"target,omitempty"`
	OldTarget string     `json:"old_target,omitempty"`
	Adopted   *Adoption  `json:"adopted,omitempty"`
	// External marks a restart or reload of a unit the app follows but
	// does not run itself (systemd.restart, systemd.reload): a rollback
	// acts on it again once the old files are back, and never stops it.
	External bool `json:"external,omitempty"`
	// For EffectSwitch: the checkout names current and previous pointed
	// at before (empty for none) and the one current points at now.
	OldCurrent  string `json:"old_current,omitempty"`
	OldPrevious string `json:"old_previous,omitempty"`
	NewCurrent  string `json:"new_current,omitempty"`
}

// Adoption is a host file that deptool replaced with an identical link.
// Restoring it needs its bytes (kept at Copy), mode and owner.
type Adoption struct {
	Path   string      `json:"path"`
	Copy   string      `json:"copy"`
	Mode   fs.FileMode `json:"mode"`
	UID    int         `json:"uid"`
	GID    int         `json:"gid"`
	SHA256 string      `json:"sha256"`
}

// LoadAttempt reads the last attempt recorded under root; nil when no apply
// ever ran there.
func LoadAttempt(root string) (*Attempt, error) {
	return loadAttempt(layout{root: root})
}

func loadAttempt(l layout) (*Attempt, error) {
	data, err := os.ReadFile(l.attemptFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read last attempt: %w", err)
	}
	var a Attempt
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("read last attempt %s: %w", l.attemptFile(), err)
	}
	return &a, nil
}

// save writes the attempt durably; it is the record undo trusts.
func (a *Attempt) save(l layout) error {
	data, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(l.attemptFile(), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	return nil
}

// needsUndo reports whether the attempt left changes that no good commit
// accounts for.
func (a *Attempt) needsUndo() bool {
	return a != nil && a.Outcome != wire.Deployed && !a.Undone && len(a.Effects) > 0
}
