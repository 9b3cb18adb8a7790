package deploy

import (
	"context"
	"fmt"
	"slices"

	"github.com/deptool/deptool/store"
)

// Repair is what 'deptool repair' deploys: main's tree with each drifted
// host's subtree taken from its ref, the version the host is recorded to
// run, and the hosts to plan as if they ran nothing (diff.PlanOptions
// Repair), so everything their apps manage is put back.
type Repair struct {
	Tree    store.ID
	Hosts   []string
	Checks  []CheckResult // of every host checked, drifted or not
	Message string
}

// Drifted reports whether a check found the host drifted from the version
// its ref records, which is what repair puts back: not a host that could
// not be checked, nor one that runs another version (a deploy's work).
func (r CheckResult) Drifted(ref store.ID) bool {
	return r.Error == "" && !r.Current.IsZero() && r.Current == ref && len(r.Drift) > 0
}

// PlanRepair checks hosts and returns the repair of those that drifted.
func PlanRepair(ctx context.Context, s *store.Store, hosts []string, opts ConnectOptions) (*Repair, error) {
	rp := &Repair{Checks: Check(ctx, nil, hosts, opts)} // the deploy that follows records what hosts say
	refs, err := s.HostRefs()
	if err != nil {
		return nil, err
	}
	var base []store.Entry
	main, ok, err := s.Main()
	if err != nil {
		return nil, err
	}
	if ok {
		info, err := s.CommitInfo(main)
		if err != nil {
			return nil, err
		}
		if base, err = s.ReadTree(info.Tree); err != nil {
			return nil, err
		}
	}
	for _, r := range rp.Checks {
		if !r.Drifted(refs[r.Host]) {
			continue
		}
		info, err := s.CommitInfo(refs[r.Host])
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", r.Host, err)
		}
		base = slices.DeleteFunc(base, func(e store.Entry) bool { return e.Name == r.Host })
		base = append(base, store.Entry{Name: r.Host, Mode: store.ModeDir, ID: info.Tree})
		rp.Hosts = append(rp.Hosts, r.Host)
	}
	if len(rp.Hosts) == 0 {
		return rp, nil
	}
	if rp.Tree, err = s.WriteTree(base); err != nil {
		return nil, err
	}
	rp.Message = fmt.Sprintf("repair %s: put back the recorded version\n", joinHosts(rp.Hosts))
	return rp, nil
}

func joinHosts(hosts []string) string {
	if len(hosts) > 5 {
		return fmt.Sprintf("%s and %d more hosts", joinHosts(hosts[:4]), len(hosts)-4)
	}
	out := ""
	for i, h := range hosts {
		if i > 0 {
			out += ", "
		}
		out += h
	}
	return out
}
