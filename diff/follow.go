package diff

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"
)

// This file holds the planner's side of units that follow an app's files:
// systemd.reload and systemd.restart (units reloaded instead of restarted,
// and units of the host the app does not ship), the validation commands,
// and the offline check that an enabled unit can be enabled at all.

// followSteps turns the restarts of the app's enabled units listed in
// systemd.reload into reloads, and adds the restarts and reloads of the
// units the manifests name beyond the app's own enabled ones. Those are
// taken from the old and the new manifest both: the files they follow
// change when either version names them (a rollback to a version that
// does not is a change too). A restart wins over a reload of the same
// unit. An enabled unit whose own file or drop-ins changed restarts even
// if listed for reload: a reload does not apply a new unit definition.
func followSteps(steps []UnitStep, old, cur *appData, files []FileChange, keep bool) []UnitStep {
	changed := changedUnits(files)
	reload := toSet(cur.manifest.Systemd.Reload)
	own := map[string]bool{}
	for _, u := range enabled(cur) {
		if keep {
			own[u] = true
		}
	}
	for _, st := range steps {
		if st.Op == Stop {
			own[st.Unit] = true // going away with the app's old version
		}
	}
	var out []UnitStep
	for _, st := range steps {
		if st.Op == Restart && reload[st.Unit] && !changed[st.Unit] && !changed[unitFile(st.Unit)] {
			st.Op = Reload
		}
		out = append(out, st)
	}
	restart := map[string]bool{}
	for _, m := range []Manifest{old.manifest, cur.manifest} {
		for _, u := range m.Systemd.Restart {
			if !own[u] && !isTemplate(u) {
				restart[u] = true
			}
		}
	}
	external := map[string]bool{}
	for _, m := range []Manifest{old.manifest, cur.manifest} {
		for _, u := range m.Systemd.Reload {
			if !own[u] && !restart[u] && !isTemplate(u) {
				external[u] = true
			}
		}
	}
	for _, u := range sortedSet(restart) {
		out = append(out, UnitStep{Op: Restart, Unit: u, External: true})
	}
	for _, u := range sortedSet(external) {
		out = append(out, UnitStep{Op: Reload, Unit: u, External: true})
	}
	order := map[UnitOp]int{}
	for i, op := range unitOpOrder {
		order[op] = i
	}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Op] < order[out[j].Op] })
	return out
}

// changedUnits is the set of units whose file or drop-ins under systemd/
// the change adds, changes or removes.
func changedUnits(files []FileChange) map[string]bool {
	out := map[string]bool{}
	for _, f := range files {
		rest, ok := strings.CutPrefix(f.Path, "systemd/")
		if !ok {
			continue
		}
		unit, _, _ := strings.Cut(rest, "/")
		out[strings.TrimSuffix(unit, ".d")] = true
	}
	return out
}

func toSet(list []string) map[string]bool {
	out := make(map[string]bool, len(list))
	for _, s := range list {
		out[s] = true
	}
	return out
}

// checkFollow validates systemd.reload, systemd.restart and validate.
func checkFollow(d *appData) []problem {
	var probs []problem
	add := func(format string, args ...any) {
		probs = append(probs, problem{ManifestName, fmt.Sprintf(format, args...)})
	}
	on := toSet(d.manifest.Systemd.UnitsEnabled)
	lists := []struct {
		key   string
		units []string
	}{{"systemd.reload", d.manifest.Systemd.Reload}, {"systemd.restart", d.manifest.Systemd.Restart}}
	for _, l := range lists {
		seen := map[string]bool{}
		for _, u := range l.units {
			switch {
			case seen[u]:
				add("%s lists %q twice; keep one", l.key, u)
			case !isUnitName(u, unitSuffixes):
				add("%s lists %q, which is not a unit name (a unit needs a suffix such as .service)", l.key, u)
			case isTemplate(u):
				add("%s lists the template %q, which cannot be started or reloaded; name an instance such as %q", l.key, u, strings.Replace(u, "@.", "@name.", 1))
			case l.key == "systemd.restart" && on[u]:
				add("systemd.restart lists %q, which units_enabled already restarts whenever the app changes; remove it from systemd.restart", u)
			}
			seen[u] = true
		}
	}
	reload := toSet(d.manifest.Systemd.Reload)
	for _, u := range d.manifest.Systemd.Restart {
		if reload[u] {
			add("%q is in both systemd.restart and systemd.reload; keep it in one", u)
		}
	}
	for i, argv := range d.manifest.Validate {
		switch {
		case len(argv) == 0:
			add("validate[%d] is empty; write a command as a list such as [\"/usr/sbin/nginx\", \"-t\"]", i)
		case !path.IsAbs(argv[0]) || path.Clean(argv[0]) != argv[0]:
			add("validate[%d]: the program %q must be an absolute, clean path such as /usr/sbin/nginx (there is no shell and no PATH search)", i, argv[0])
		default:
			for _, a := range argv {
				if strings.ContainsRune(a, 0) {
					add("validate[%d]: an argument contains a NUL byte, which no command line can carry", i)
					break
				}
			}
		}
	}
	return probs
}

// checkInstall finds enabled units without an [Install] section that
// says what enables them: systemd accepts enabling them and does nothing,
// so the unit would not start at boot. The host would refuse the deploy;
// this says so before anything connects.
func (l *loader) checkInstall(d *appData) ([]problem, error) {
	var probs []problem
	seen := map[string]bool{}
	for _, u := range d.manifest.Systemd.UnitsEnabled {
		file := unitFile(u)
		if seen[u] || !isUnitName(u, unitSuffixes) {
			continue // reported by checkUnitsEnabled
		}
		seen[u] = true
		names := []string{file}
		for _, n := range d.units {
			if dir, _, ok := strings.Cut(n, "/"); ok && (dir == file+".d" || dir == u+".d") {
				names = append(names, n)
			}
		}
		found, present := false, false
		for _, n := range names {
			e, ok, err := l.lookup(d.root, "systemd/"+n)
			if err != nil {
				return nil, err
			}
			if !ok || !isFile(e) {
				continue
			}
			present = present || n == file
			has, known := l.installs[e.ID]
			if !known {
				data, err := l.src.ReadBlob(e.ID)
				if err != nil {
					return nil, err
				}
				has = hasInstall(data)
				l.installs[e.ID] = has
			}
			if has {
				found = true
				break
			}
		}
		if present && !found {
			probs = append(probs, problem{"systemd/" + file, fmt.Sprintf(
				"units_enabled lists %q, but the unit has no [Install] section saying what enables it (such as WantedBy=multi-user.target), so enabling it would do nothing; add one, or remove it from units_enabled", u)})
		}
	}
	return probs, nil
}

// checkReloadable finds units of the app listed in systemd.reload that
// cannot reload: without ExecReload= systemd refuses the reload job, so
// the host would fail the deploy. Units the app does not ship are the
// host's; only the host knows them.
func (l *loader) checkReloadable(d *appData) ([]problem, error) {
	var probs []problem
	for _, u := range d.manifest.Systemd.Reload {
		if !isUnitName(u, unitSuffixes) || isTemplate(u) || !strings.HasSuffix(u, ".service") {
			continue // reported by checkFollow, or a unit type reload means something else for
		}
		file := unitFile(u)
		names := []string{file}
		shipped := false
		for _, n := range d.units {
			shipped = shipped || n == file
			if dir, _, ok := strings.Cut(n, "/"); ok && (dir == file+".d" || dir == u+".d") {
				names = append(names, n)
			}
		}
		if !shipped {
			continue
		}
		found := false
		for _, n := range names {
			e, ok, err := l.lookup(d.root, "systemd/"+n)
			if err != nil {
				return nil, err
			}
			if !ok || !isFile(e) {
				continue
			}
			data, err := l.src.ReadBlob(e.ID)
			if err != nil {
				return nil, err
			}
			if hasSetting(data, "Service", "ExecReload") {
				found = true
				break
			}
		}
		if !found {
			probs = append(probs, problem{"systemd/" + file, fmt.Sprintf(
				"systemd.reload lists %q, but the unit has no ExecReload=, so systemd cannot reload it; add one (such as ExecReload=/bin/kill -HUP $MAINPID), or remove it from systemd.reload to restart it instead", u)})
		}
	}
	return probs, nil
}

// installKeys are the [Install] settings that give enabling something to do.
var installKeys = []string{"WantedBy", "RequiredBy", "UpheldBy", "Alias", "Also", "DefaultInstance"}

// hasInstall reports whether a unit file has an [Install] section with a
// setting that enabling acts on.
func hasInstall(data []byte) bool {
	for _, k := range installKeys {
		if hasSetting(data, "Install", k) {
			return true
		}
	}
	return false
}

// hasSetting reports whether a unit file sets key in section.
func hasSetting(data []byte, section, key string) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	in := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			in = line == "["+section+"]"
		case in:
			if k, _, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == key {
				return true
			}
		}
	}
	return false
}
