package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/deptool/deptool/deploy/wire"
)

// trashPrefix marks an app directory moved aside by a removal: deleted
// once the apply succeeds, moved back if it is undone.
const trashPrefix = ".removed-"

// removeApps takes the plan's removed apps away.
func (c *fileStep) removeApps() error {
	for _, ap := range c.plan.Apps {
		if ap.Action == wire.Remove {
			if err := c.removeApp(ap.App); err != nil {
				return fmt.Errorf("app %s: remove: %w", ap.App, err)
			}
		}
	}
	return nil
}

// removeApp takes a removed app's directory away. Its links went in the
// symlink phase, before this.
func (c *fileStep) removeApp(app string) error {
	appDir := c.l.appDir(app)
	if _, err := os.Lstat(appDir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	c.say(wire.Progress{Step: "remove", App: app})
	trash := trashPrefix + app
	if err := c.record(Effect{Kind: EffectRemoveApp, App: app, Path: trash}); err != nil {
		return err
	}
	trashDir := filepath.Join(c.l.appsDir(), trash)
	if err := os.RemoveAll(trashDir); err != nil {
		return fmt.Errorf("clear %s: %w", trash, bare(err))
	}
	if err := os.Rename(appDir, trashDir); err != nil {
		return bare(err)
	}
	return syncDir(c.l.appsDir())
}

// removeDir deletes a directory by first renaming it to a temp name: a
// checkout named after its tree must be whole or absent, never half
// deleted, since checkout trusts an existing one.
func removeDir(dir string) error {
	tmp := filepath.Join(filepath.Dir(dir), ".tmp-rm-"+filepath.Base(dir))
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.Rename(dir, tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(tmp)
}
