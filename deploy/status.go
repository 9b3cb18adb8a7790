package deploy

import (
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
)

// Status is diff.Status with each host's last attempt filled in from the
// store's outcome notes, when that attempt did not deploy: a host rolled
// back keeps showing its change as pending, and status says why.
func Status(s *store.Store, tree store.ID, limit []string) ([]diff.HostStatus, error) {
	statuses, err := diff.Status(s, tree, limit)
	if err != nil {
		return nil, err
	}
	history, err := History(s, nil, 0)
	if err != nil {
		return nil, err
	}
	// A deploy or record that does not verify is not counted: its
	// outcomes are anyone's to write.
	if err := MarkUnverified(s, history); err != nil {
		return nil, err
	}
	hosts := make([]string, len(statuses))
	for i, st := range statuses {
		hosts[i] = st.Host
	}
	bad, err := UnverifiedHosts(s, hosts)
	if err != nil {
		return nil, err
	}
	last := map[string]*diff.Attempt{}
	seen := map[string]bool{}
	for _, e := range history { // newest first
		for _, h := range e.Hosts {
			if seen[h.Host] || h.Outcome == Skipped {
				continue
			}
			seen[h.Host] = true
			if h.Outcome != Deployed {
				last[h.Host] = &diff.Attempt{Commit: e.Commit, Time: e.Time, Outcome: string(h.Outcome), Why: h.Why()}
			}
		}
	}
	for i := range statuses {
		statuses[i].Attempt = last[statuses[i].Host]
		if u, ok := bad[statuses[i].Host]; ok {
			statuses[i] = diff.HostStatus{Host: statuses[i].Host, Unverified: u.String(), PinnedAt: statuses[i].PinnedAt}
		}
	}
	return statuses, nil
}
