package agent

import (
	"fmt"
	"path"
	"strings"

	"github.com/deptool/deptool/deploy/wire"
)

// Links of an app's special directories (systemd/, sysusers/, quadlets/):
// made by the link step like manifest symlinks, file by file.

// checkLinkStep refuses sysusers and quadlet names that are not plain
// files of those directories (quadlets may have drop-ins x.d/y).
func checkLinkStep(dir string, step wire.LinkStep) error {
	parts := strings.Split(step.Name, "/")
	ok := len(parts) == 1 || (len(parts) == 2 && dir == "quadlets" && strings.HasSuffix(parts[0], ".d"))
	for _, p := range parts {
		ok = ok && validName(p) && !strings.HasPrefix(p, ".")
	}
	if !ok {
		return fmt.Errorf("%s step %s %q: want a file name, or for quadlets a drop-in x.d/y", dir, step.Op, step.Name)
	}
	return nil
}

// specialLinks are an app's unit, sysusers and quadlet link steps as
// symlink steps: a link in the host directory, pointing through current
// at the app's file.
func specialLinks(ap wire.AppPlan) []wire.SymlinkStep {
	var out []wire.SymlinkStep
	for _, st := range ap.Sysusers {
		if st.Op == wire.Link {
			out = append(out, specialLink(sysusersDir, "sysusers", st.Name))
		}
	}
	for _, st := range ap.Units {
		if st.Op == wire.LinkUnit {
			out = append(out, specialLink(unitDir, "systemd", st.Unit))
		}
	}
	for _, st := range ap.Quadlets {
		if st.Op == wire.Link {
			out = append(out, specialLink(quadletDir, "quadlets", st.Name))
		}
	}
	return out
}

func specialLink(hostDir, appDir, name string) wire.SymlinkStep {
	return wire.SymlinkStep{Op: wire.Link, Path: path.Join(hostDir, name), Target: path.Join(appDir, name)}
}

// linkSysusers removes, then makes the links of sysusers files across
// apps (phase 3, before systemd-sysusers runs).
func (k *linkStep) linkSysusers() error {
	steps := func(ap wire.AppPlan) []wire.LinkStep { return ap.Sysusers }
	return k.linkFiles(sysusersDir, "sysusers", steps)
}

// linkFiles removes, then makes the links of one special directory's
// files, across apps.
func (k *linkStep) linkFiles(hostDir, appDir string, steps func(wire.AppPlan) []wire.LinkStep) error {
	for _, op := range []wire.LinkOp{wire.Unlink, wire.Link} {
		for _, ap := range k.plan.Apps {
			for _, st := range steps(ap) {
				if st.Op != op {
					continue
				}
				var err error
				if op == wire.Unlink {
					err = k.unlink(ap.App, path.Join(hostDir, st.Name))
				} else {
					err = k.link(ap.App, specialLink(hostDir, appDir, st.Name))
				}
				if err != nil {
					return fmt.Errorf("app %s: %s %s/%s: %w", ap.App, op, appDir, st.Name, err)
				}
			}
		}
	}
	return nil
}

// linkUnits removes, then makes the links of unit files and drop-ins,
// then of quadlets, across apps (phase 5, before daemon-reload). Drop-ins
// are linked file by file, so unmanaged drop-ins beside them stay.
func (k *linkStep) linkUnits() error {
	apps, names := planned(k.plan, wire.UnlinkUnit)
	for i, name := range names {
		if err := k.unlink(apps[i], path.Join(unitDir, name)); err != nil {
			return fmt.Errorf("app %s: unlink unit %s: %w", apps[i], name, err)
		}
	}
	apps, names = planned(k.plan, wire.LinkUnit)
	for i, name := range names {
		if err := k.link(apps[i], specialLink(unitDir, "systemd", name)); err != nil {
			return fmt.Errorf("app %s: link unit %s: %w", apps[i], name, err)
		}
	}
	return k.linkFiles(quadletDir, "quadlets", func(ap wire.AppPlan) []wire.LinkStep { return ap.Quadlets })
}
