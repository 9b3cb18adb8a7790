package deploy

import (
	"fmt"

	"github.com/deptool/deptool/store"
)

// CompareRecords adds to each checked host's drift where the store's
// record of it (refs/remotes/<host>, which anyone who can push to the
// team's remote can move) names another commit than the host runs: the
// host's own state is the truth, and `sync` takes it.
func CompareRecords(s *store.Store, results []CheckResult) error {
	refs, err := s.HostRefs()
	if err != nil {
		return err
	}
	for i := range results {
		r := &results[i]
		if r.Error != "" {
			continue
		}
		rec := refs[r.Host]
		if rec == r.Current {
			continue
		}
		runs := "nothing"
		if !r.Current.IsZero() {
			runs = r.Current.Short()
		}
		says := "nothing deployed"
		if !rec.IsZero() {
			says = rec.Short()
		}
		r.Drift = append(r.Drift, Drift{Kind: DriftRecord, What: fmt.Sprintf(
			"the record and the host disagree: the store says %s, the host runs %s; run 'deptool sync --limit %s' to take the host's", says, runs, r.Host)})
	}
	return nil
}
