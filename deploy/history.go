package deploy

import (
	"fmt"
	"github.com/deptool/deptool/diff"
	"slices"
	"strings"
	"time"

	"github.com/deptool/deptool/store"
)

// Entry is one deploy as the store's history records it: the deploy
// commit, and each host's outcome from the note the deploy left.
type Entry struct {
	Commit   store.ID  `json:"commit"`
	Time     time.Time `json:"time"`
	Operator string    `json:"operator"`
	Message  string    `json:"message"`
	// Source is the commit of the source-of-truth repository the tree was
	// generated from, "-dirty" when it had uncommitted changes; "" when
	// unknown.
	Source string       `json:"source,omitempty"`
	Hosts  []HostResult `json:"hosts"`
	// Recorded is false for a deploy that never finished recording its
	// outcomes: the operator was interrupted or killed.
	Recorded bool `json:"recorded"`
	// Unverified says why the deploy commit does not verify against the
	// store's allowed signers (see MarkUnverified); "" when it does or
	// was not checked.
	Unverified string `json:"unverified,omitempty"`
}

// Subject is the first line of the deploy's message.
func (e Entry) Subject() string { return strings.SplitN(e.Message, "\n", 2)[0] }

// History decodes the store's deploys, newest first, at most n (0: all).
// With hosts, only deploys that touched one of them are listed, each with
// only those hosts' outcomes.
func History(s *store.Store, hosts []string, n int) ([]Entry, error) {
	history, err := s.History(0)
	if err != nil {
		return nil, err
	}
	if err := knownHosts(s, hosts); err != nil {
		return nil, err
	}
	var out []Entry
	for _, c := range history {
		if n > 0 && len(out) == n {
			break
		}
		e := Entry{Commit: c.ID, Time: c.Time, Operator: c.Operator, Message: strings.TrimSpace(store.WithoutHosts(c.Message)), Source: sourceIn(c.Message)}
		note, ok, err := s.Outcomes(c.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			res, err := decodeNote(note)
			if err != nil {
				return nil, fmt.Errorf("commit %s: outcomes note: %w", c.ID.Short(), err)
			}
			e.Recorded, e.Hosts = true, res.Hosts
		}
		if len(hosts) > 0 {
			e.Hosts = slices.DeleteFunc(e.Hosts, func(h HostResult) bool { return !slices.Contains(hosts, h.Host) })
			if len(e.Hosts) == 0 {
				continue
			}
		}
		slices.SortFunc(e.Hosts, func(a, b HostResult) int { return strings.Compare(a.Host, b.Host) })
		out = append(out, e)
	}
	return out, nil
}

// knownHosts refuses a host this store never planned for: a typo would
// otherwise show an empty history, as if the host had never changed.
func knownHosts(s *store.Store, hosts []string) error {
	if len(hosts) == 0 {
		return nil
	}
	refs, err := s.HostRefs()
	if err != nil {
		return err
	}
	known := make([]string, 0, len(refs))
	for h := range refs {
		known = append(known, h)
	}
	if main, ok, err := s.Main(); err != nil {
		return err
	} else if ok {
		info, err := s.CommitInfo(main)
		if err != nil {
			return err
		}
		entries, err := s.ReadTree(info.Tree)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !slices.Contains(known, e.Name) {
				known = append(known, e.Name)
			}
		}
	}
	slices.Sort(known)
	for _, h := range hosts {
		if !slices.Contains(known, h) {
			return fmt.Errorf("unknown host %s: no deploy of this store has it%s", h, diff.DidYouMean(h, known))
		}
	}
	return nil
}

// DeployedVersions are the deploys in which at least one of hosts (every
// host, when none are named) deployed, newest first: what a rollback can go
// back to.
func DeployedVersions(s *store.Store, hosts []string) ([]Entry, error) {
	entries, err := History(s, hosts, 0)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(entries, func(e Entry) bool {
		return !slices.ContainsFunc(e.Hosts, func(h HostResult) bool { return h.Outcome == Deployed })
	}), nil
}

// Counts says how the entry's hosts ended, in the order of Outcomes:
// "3 deployed, 5 rolled back"; "no outcomes recorded" for a deploy that
// never recorded them.
func (e Entry) Counts() string {
	n := map[Outcome]int{}
	for _, h := range e.Hosts {
		n[h.Outcome]++
	}
	var parts []string
	for _, o := range Outcomes {
		if n[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[o], o))
		}
	}
	if len(parts) == 0 {
		return "no outcomes recorded"
	}
	return strings.Join(parts, ", ")
}

// deployedEverywhere reports whether every host of the entry deployed.
func (e Entry) deployedEverywhere() bool {
	return len(e.Hosts) > 0 && !slices.ContainsFunc(e.Hosts, func(h HostResult) bool { return h.Outcome != Deployed })
}

// DefaultRollback is the index in entries (DeployedVersions: newest
// first, the first one running now) of the version a rollback offers by
// default: the newest earlier one that deployed on every host it has, so
// that Enter never goes back to a deploy that broke hosts. It is 1 when
// none did, -1 when there is no earlier version.
func DefaultRollback(entries []Entry) int {
	if len(entries) < 2 {
		return -1
	}
	for i, e := range entries[1:] {
		if e.deployedEverywhere() {
			return i + 1
		}
	}
	return 1
}

// ChangedApps names the apps deploy commit id changed from the deploy
// before it, on hosts (every host, when none are named), sorted: what a
// rollback past it would take back.
func ChangedApps(s *store.Store, id store.ID, hosts []string) ([]string, error) {
	info, err := s.CommitInfo(id)
	if err != nil {
		return nil, err
	}
	before := store.EmptyTree
	if len(info.Parents) > 0 {
		parent, err := s.CommitInfo(info.Parents[0])
		if err != nil {
			return nil, err
		}
		before = parent.Tree
	}
	now, err := hostApps(s, info.Tree, hosts)
	if err != nil {
		return nil, err
	}
	was, err := hostApps(s, before, hosts)
	if err != nil {
		return nil, err
	}
	var apps []string
	note := func(app string) {
		if !slices.Contains(apps, app) {
			apps = append(apps, app)
		}
	}
	for k, id := range now {
		if was[k] != id {
			note(k.app)
		}
	}
	for k := range was {
		if _, ok := now[k]; !ok {
			note(k.app)
		}
	}
	slices.Sort(apps)
	return apps, nil
}

type hostApp struct{ host, app string }

// hostApps maps each app of each selected host in a config tree to its
// subtree.
func hostApps(s *store.Store, tree store.ID, hosts []string) (map[hostApp]store.ID, error) {
	out := map[hostApp]store.ID{}
	if tree == store.EmptyTree {
		return out, nil
	}
	hostEntries, err := s.ReadTree(tree)
	if err != nil {
		return nil, err
	}
	for _, h := range hostEntries {
		if !h.IsDir() || (len(hosts) > 0 && !slices.Contains(hosts, h.Name)) {
			continue
		}
		apps, err := s.ReadTree(h.ID)
		if err != nil {
			return nil, err
		}
		for _, a := range apps {
			if a.IsDir() {
				out[hostApp{h.Name, a.Name}] = a.ID
			}
		}
	}
	return out, nil
}
