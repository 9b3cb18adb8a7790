package diff

import (
	"fmt"
	"time"

	"github.com/deptool/deptool/store"
)

// HostStatus is where one host stands: what it last accepted and which of
// its apps differ from the config tree.
type HostStatus struct {
	Host string `json:"host"`
	// New is true for a host never deployed from this store.
	New bool `json:"new"`
	// Untracked is true for a host deployed before but no longer in the
	// config tree; deploys leave it alone.
	Untracked bool `json:"untracked,omitempty"`
	// Deployed, Operator and Commit describe the last deploy the host
	// accepted: when, by whom, and the deploy commit on main.
	Deployed time.Time `json:"deployed,omitzero"`
	Operator string    `json:"operator,omitempty"`
	Commit   store.ID  `json:"commit,omitzero"`
	// Source is the source-of-truth commit that deploy's tree came from,
	// as its commit records it; "" when it records none.
	Source string `json:"source,omitempty"`
	// Undeployed names the apps whose tree differs from the host's: added,
	// changed or removed since.
	Undeployed []string `json:"undeployed,omitempty"`
	// Unknown is the commit the host was last deployed from when this store
	// does not hold it: deployed from another store ('deptool sync' brings
	// it here).
	Unknown store.ID `json:"unknown_commit,omitzero"`
	// PinnedAt is the commit 'deptool pin' holds the host at, if any.
	PinnedAt store.ID `json:"pinned_at,omitzero"`
	// Attempt is the host's last deploy attempt when it did not deploy
	// (rolled back, failed...), newer than its last deploy; nil otherwise.
	// Package deploy fills it in from the store's outcome notes.
	Attempt *Attempt `json:"last_attempt,omitempty"`
	// Unverified says why the store's record of the host does not
	// verify (package deploy checks it): the host is then not counted as
	// deployed, and 'deptool sync' takes the host's own record.
	Unverified string `json:"unverified,omitempty"`
}

// Attempt is a deploy attempt that did not take, as status shows it.
type Attempt struct {
	Commit  store.ID  `json:"commit"` // the deploy commit on main
	Time    time.Time `json:"time"`
	Outcome string    `json:"outcome"`
	Why     string    `json:"why,omitempty"`
}

// Status reports every host of the config tree desired (or those in limit),
// then, without a limit, the hosts deployed before but gone from the tree.
// It reads only the store; unchanged hosts cost one ref and one commit.
func Status(s *store.Store, desired store.ID, limit []string) ([]HostStatus, error) {
	return status(s, desired, limit)
}

func status(src source, desired store.ID, limit []string) ([]HostStatus, error) {
	hosts, err := hostEntries(src, desired)
	if err != nil {
		return nil, err
	}
	selected, err := selectHosts(hosts, limit, nil)
	if err != nil {
		return nil, err
	}
	pins, err := src.Pins()
	if err != nil {
		return nil, err
	}
	out := make([]HostStatus, 0, len(selected))
	sources := map[store.ID]string{} // deploy commit: its source
	for _, h := range selected {
		st, err := hostStatus(src, sources, h.Name, h.ID)
		if err != nil {
			return nil, err
		}
		st.PinnedAt = pins[h.Name]
		out = append(out, st)
	}
	if len(limit) > 0 {
		return out, nil
	}
	gone, err := untracked(src, hosts)
	if err != nil {
		return nil, err
	}
	for _, name := range gone {
		st, err := hostStatus(src, sources, name, store.ZeroID)
		if err != nil {
			return nil, err
		}
		st.Untracked, st.Undeployed = true, nil
		out = append(out, st)
	}
	return out, nil
}

func hostStatus(src source, sources map[store.ID]string, host string, tree store.ID) (HostStatus, error) {
	st := HostStatus{Host: host}
	base, from, ok, err := deployed(src, host)
	if err != nil {
		return st, err
	}
	st.New = !ok
	if ok {
		err := describeDeploy(src, sources, base, &st)
		switch {
		case store.ObjectMissing(err):
			// A fetch from a host last deployed from another store: its
			// host commit is here, the deploy commit it names is not.
			st.Unknown = st.Commit
		case err != nil:
			return st, fmt.Errorf("host %s: %w", host, err)
		}
	}
	if from == tree || tree.IsZero() {
		return st, nil
	}
	oldApps, err := appEntries(src, host, from)
	if err != nil {
		return st, err
	}
	newApps, err := appEntries(src, host, tree)
	if err != nil {
		return st, err
	}
	for _, name := range unionNames(oldApps, newApps) {
		if oldApps[name] != newApps[name] {
			st.Undeployed = append(st.Undeployed, name)
		}
	}
	return st, nil
}

// describeDeploy fills in when and by whom the host commit base was made,
// and the deploy commit it was made for.
func describeDeploy(src source, sources map[store.ID]string, base store.ID, st *HostStatus) error {
	info, err := src.CommitInfo(base)
	if err != nil {
		return err
	}
	deploy, ok, err := src.DeployOf(base)
	if err != nil {
		return err
	}
	if !ok {
		deploy = base // a host commit made by hand: name it instead
	}
	st.Deployed, st.Operator, st.Commit = info.Time, info.Operator, deploy
	if known, seen := sources[deploy]; seen || !ok {
		st.Source = known
		return nil
	}
	// Most hosts share a few deploys: each deploy commit is read once.
	d, err := src.CommitInfo(deploy)
	if err != nil {
		return err
	}
	st.Source = store.SourceIn(d.Message, store.SourceTrailer)
	sources[deploy] = st.Source
	return nil
}
