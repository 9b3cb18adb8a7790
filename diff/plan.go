package diff

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/deptool/deptool/store"
)

// Plan is what a deploy will do, per host, computed offline from the store.
// It is deterministic and serialises to JSON with ids as hex strings and
// operations as words.
type Plan struct {
	// Tree is the desired config tree.
	Tree store.ID `json:"tree"`
	// Hosts lists the hosts that differ from what they last accepted, by
	// name. Up-to-date hosts are left out.
	Hosts []HostPlan `json:"hosts"`
	// Untracked lists hosts the store has deployed that are no longer in
	// the config tree. Deploys leave them alone. Only set without a limit.
	Untracked []string `json:"untracked,omitempty"`
	// Pinned lists hosts held by 'deptool pin': left out of the plan
	// whatever their tree says.
	Pinned []PinnedHost `json:"pinned,omitempty"`
	// Rollout orders the hosts into canary and batch stages; nil means
	// every host at once.
	Rollout *Rollout `json:"rollout,omitempty"`
}

// PinnedHost is a host a plan leaves alone because it is pinned.
type PinnedHost struct {
	Host       string   `json:"host"`
	At         store.ID `json:"at"`          // the commit it is pinned at
	AppsDiffer int      `json:"apps_differ"` // apps the tree would change
}

// Empty reports whether there is nothing to deploy.
func (p *Plan) Empty() bool { return len(p.Hosts) == 0 }

// HostPlan is one host's part of a plan. The agent applies it in phases
// across all of the host's apps, and each list below is in that order:
//
//  1. check out every app's files (Files)
//  2. remove, then create symlinks (Symlinks)
//  3. link sysusers files (Sysusers), then run systemd-sysusers
//  4. stop, then disable units (Units)
//  5. unlink, then link units, drop-ins and quadlets; daemon-reload
//  6. enable, then restart units (Units), and watch them settle
//  7. run the health checks of added and updated apps (Checks)
type HostPlan struct {
	Host string `json:"host"`
	// New is true for a host never deployed from this store.
	New bool `json:"new"`
	// Base is the host commit the host last accepted (zero when New). The
	// deploy checks the host is still there, so a stale plan is refused.
	Base store.ID `json:"base,omitzero"`
	// From and To are the host's tree before and after.
	From store.ID  `json:"from"`
	To   store.ID  `json:"to"`
	Apps []AppPlan `json:"apps"`
	// Sysusers asks for systemd-sysusers, after a sysusers file was added
	// or changed.
	Sysusers bool `json:"sysusers"`
	// DaemonReload asks systemd to reload, after a unit file, drop-in or
	// quadlet was added, changed or removed.
	DaemonReload bool `json:"daemon_reload"`
	// Rollback says a failure on this host rolls it back to Base.
	Rollback bool `json:"rollback"`
}

// Action is what happens to an app or a file.
type Action string

// Actions, rendered as the words for apps and as + ~ - for files.
const (
	Add    Action = "add"
	Update Action = "update"
	Remove Action = "remove"
)

// AppPlan is one app's part of a host plan.
type AppPlan struct {
	App    string   `json:"app"`
	Action Action   `json:"action"`
	From   store.ID `json:"from,omitzero"` // zero when added
	To     store.ID `json:"to,omitzero"`   // zero when removed
	// Files are the changed files, by path relative to the app.
	Files    []FileChange  `json:"files,omitempty"`
	Symlinks []SymlinkStep `json:"symlinks,omitempty"`
	Sysusers []LinkStep    `json:"sysusers,omitempty"`
	Quadlets []LinkStep    `json:"quadlets,omitempty"`
	Units    []UnitStep    `json:"units,omitempty"`
	// Checks are the app's health checks, run after the units settle;
	// set for added and updated apps, so the agent needs only the plan.
	Checks []Check `json:"checks,omitempty"`
	// Validate are the app's validation commands, run in the new checkout
	// before anything else changes; set for added and updated apps.
	Validate [][]string `json:"validate,omitempty"`
}

// FileChange is one file added, changed (contents or mode) or removed.
type FileChange struct {
	Op      Action   `json:"op"`
	Path    string   `json:"path"`
	Old     store.ID `json:"old,omitzero"`
	New     store.ID `json:"new,omitzero"`
	OldMode Mode     `json:"old_mode,omitzero"`
	NewMode Mode     `json:"new_mode,omitzero"`
	// Secret marks a file decrypted on the host from Path + ".age"; plans
	// and diffs never show its content, only that it changed.
	Secret bool `json:"secret,omitempty"`
	// Attr is the file's mode and ownership on the host after the change,
	// set when the manifest (or the secret default) makes it other than
	// 0644 root:root, or when it changed; AttrChanged says it changed.
	Attr        *Attr `json:"attr,omitempty"`
	AttrChanged bool  `json:"attr_changed,omitempty"`
}

// LinkOp creates or removes a link on the host.
type LinkOp string

// Link operations.
const (
	Link   LinkOp = "link"
	Unlink LinkOp = "unlink"
)

// SymlinkStep creates or removes a symlink from the manifest. Target is
// relative to the app; the link points through <app>/current/.
type SymlinkStep struct {
	Op     LinkOp `json:"op"`
	Path   string `json:"path"`
	Target string `json:"target,omitempty"`
}

// LinkStep links or unlinks a file from sysusers/ (into /etc/sysusers.d) or
// quadlets/ (into /etc/containers/systemd), by its path in that directory.
type LinkStep struct {
	Op   LinkOp `json:"op"`
	Name string `json:"name"`
}

// UnitOp is something done to a unit.
type UnitOp string

// Unit operations, in the order the agent runs them.
const (
	Stop       UnitOp = "stop"
	Disable    UnitOp = "disable"
	UnlinkUnit UnitOp = "unlink"
	LinkUnit   UnitOp = "link"
	Enable     UnitOp = "enable"
	Restart    UnitOp = "restart"
	// Reload reloads a unit that runs, and starts one that does not.
	Reload UnitOp = "reload"
)

var unitOpOrder = []UnitOp{Stop, Disable, UnlinkUnit, LinkUnit, Enable, Restart, Reload}

// UnitStep is one unit operation. Link and unlink name files under
// systemd/, so they include drop-ins ("a.service.d/b.conf").
type UnitStep struct {
	Op   UnitOp `json:"op"`
	Unit string `json:"unit"`
	// External marks a restart or reload of a unit the app does not ship
	// (or does not enable), named by the manifest's systemd.restart or
	// systemd.reload: a rollback acts on it again once the old files are
	// back, and never stops it.
	External bool `json:"external,omitempty"`
}

// PlanOptions narrows a plan.
type PlanOptions struct {
	// Limit restricts the plan to these hosts (names, globs and @groups,
	// see Select); empty means every host.
	Limit []string
	// Groups are the cluster's groups, for @group in Limit and Canary.
	Groups Groups
	// Shard keeps, of the hosts Limit selects, this runner's share (see
	// Shard); its zero value keeps them all.
	Shard Shard
	// NoRollback plans without automatic rollback.
	NoRollback bool
	// Canary selects hosts (as Limit does) deployed first, on their own; the rest follow
	// only if every one of them deployed.
	Canary []string
	// Batch, when set, deploys the hosts after the canaries in batches of
	// these sizes, the last repeating.
	Batch Ramp
	// MaxFail, when set, lets the rollout go on past failed hosts until
	// more than this many have not deployed; unset, it stops after the
	// first stage with a failure.
	MaxFail *Budget
	// Repair names hosts to plan as if they ran nothing: every app added
	// again over what the host has (links made, units enabled and
	// restarted), from the host's own ref, so a host on its recorded
	// version that drifted by hand gets it all put back ('deptool repair').
	Repair map[string]bool
}

// MakePlan compares the config tree desired with what every host last
// accepted. Hosts and apps whose trees are unchanged are skipped by id,
// without reading them.
func MakePlan(s *store.Store, desired store.ID, opts PlanOptions) (*Plan, error) {
	return makePlan(s, desired, opts)
}

func makePlan(src source, desired store.ID, opts PlanOptions) (*Plan, error) {
	hosts, err := hostEntries(src, desired)
	if err != nil {
		return nil, err
	}
	selected, err := selectHosts(hosts, opts.Limit, opts.Groups)
	if err != nil {
		return nil, err
	}
	if !opts.Shard.Whole() {
		selected = slices.DeleteFunc(selected, func(e store.Entry) bool { return !opts.Shard.Has(e.Name) })
	}
	refs, err := src.HostRefs()
	if err != nil {
		return nil, err
	}
	pl := &planner{src: src, loader: newLoader(src), refs: refs}
	plan := &Plan{Tree: desired, Hosts: []HostPlan{}}
	pins, err := src.Pins()
	if err != nil {
		return nil, err
	}
	for _, h := range selected {
		hp, err := pl.host(h, !opts.NoRollback, opts.Repair[h.Name])
		if err != nil {
			return nil, err
		}
		if at, pinned := pins[h.Name]; pinned {
			pin := PinnedHost{Host: h.Name, At: at}
			if hp != nil {
				pin.AppsDiffer = len(hp.Apps)
			}
			plan.Pinned = append(plan.Pinned, pin)
			continue
		}
		if hp != nil {
			plan.Hosts = append(plan.Hosts, *hp)
		}
	}
	if len(opts.Limit) == 0 {
		plan.Untracked = opts.Shard.Of(untrackedOf(refs, hosts))
	}
	known := make([]string, len(hosts))
	for i, h := range hosts {
		known[i] = h.Name
	}
	if plan.Rollout, err = planRollout(plan.Hosts, known, opts.Groups, opts.Canary, opts.Batch, opts.MaxFail); err != nil {
		return nil, err
	}
	return plan, nil
}

// hostEntries lists the host directories of a config tree, by name.
func hostEntries(src source, tree store.ID) ([]store.Entry, error) {
	entries, err := readTree(src, tree)
	if err != nil {
		return nil, err
	}
	hosts := make([]store.Entry, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			return nil, fmt.Errorf("config tree %s: %s is a file, not a host directory", tree, e.Name)
		}
		hosts = append(hosts, e)
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	return hosts, nil
}

// selectHosts narrows hosts to a selection (see Select); an empty one
// keeps them all.
func selectHosts(hosts []store.Entry, terms []string, groups Groups) ([]store.Entry, error) {
	if len(terms) == 0 {
		return hosts, nil
	}
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	selected, err := Select(names, groups, terms)
	if err != nil {
		return nil, err
	}
	out := make([]store.Entry, 0, len(selected))
	for _, h := range hosts {
		if _, ok := slices.BinarySearch(selected, h.Name); ok {
			out = append(out, h)
		}
	}
	return out, nil
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func untracked(src source, hosts []store.Entry) ([]string, error) {
	refs, err := src.HostRefs()
	if err != nil {
		return nil, err
	}
	return untrackedOf(refs, hosts), nil
}

func untrackedOf(refs map[string]store.ID, hosts []store.Entry) []string {
	inTree := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		inTree[h.Name] = true
	}
	var out []string
	for name := range refs {
		if !inTree[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

type planner struct {
	src    source
	loader *loader
	// refs are the hosts' refs, read once: one read of every ref costs
	// less than a read per host on a store with many hosts.
	refs map[string]store.ID
}

// deployed returns the host commit a host last accepted and its tree.
func deployed(src source, host string) (base store.ID, tree store.ID, ok bool, err error) {
	base, ok, err = src.HostRef(host)
	if err != nil {
		return store.ZeroID, store.EmptyTree, false, err
	}
	return deployedAt(src, host, base, ok)
}

func deployedAt(src source, host string, base store.ID, ok bool) (store.ID, store.ID, bool, error) {
	if !ok {
		return store.ZeroID, store.EmptyTree, false, nil
	}
	info, err := src.CommitInfo(base)
	if err != nil {
		return store.ZeroID, store.ZeroID, false, fmt.Errorf("host %s: %w", host, err)
	}
	return base, info.Tree, true, nil
}

// host plans one host, or returns nil when it is up to date.
func (pl *planner) host(h store.Entry, rollback, repair bool) (*HostPlan, error) {
	base, ok := pl.refs[h.Name]
	base, from, ok, err := deployedAt(pl.src, h.Name, base, ok)
	if err != nil {
		return nil, err
	}
	if from == h.ID && !repair {
		return nil, nil
	}
	oldApps := map[string]store.ID{}
	if !repair {
		if oldApps, err = appEntries(pl.src, h.Name, from); err != nil {
			return nil, err
		}
	}
	newApps, err := appEntries(pl.src, h.Name, h.ID)
	if err != nil {
		return nil, err
	}
	hp := &HostPlan{Host: h.Name, New: !ok, Base: base, From: from, To: h.ID, Rollback: rollback}
	for _, name := range unionNames(oldApps, newApps) {
		o, n := oldApps[name], newApps[name]
		if o == n {
			continue // the same tree: nothing in it changed
		}
		ap, err := pl.app(h.Name, name, o, n)
		if err != nil {
			return nil, err
		}
		hp.Apps = append(hp.Apps, *ap)
		hp.note(ap)
	}
	return hp, nil
}

// appEntries maps a host tree's app names to their tree ids.
func appEntries(src source, host string, tree store.ID) (map[string]store.ID, error) {
	entries, err := readTree(src, tree)
	if err != nil {
		return nil, err
	}
	apps := make(map[string]store.ID, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			return nil, fmt.Errorf("%s/%s is a file, not an app directory", host, e.Name)
		}
		apps[e.Name] = e.ID
	}
	return apps, nil
}

func unionNames(a, b map[string]store.ID) []string {
	names := make([]string, 0, len(b))
	for k := range b {
		names = append(names, k)
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}

// note records what an app's changes require of the whole host.
func (hp *HostPlan) note(ap *AppPlan) {
	for _, f := range ap.Files {
		dir, rest, _ := strings.Cut(f.Path, "/")
		switch {
		case dir == "systemd" || dir == "quadlets":
			hp.DaemonReload = true
		case dir == "sysusers" && f.Op != Remove && isConfName(rest) && !strings.Contains(rest, "/"):
			hp.Sysusers = true
		}
	}
}
