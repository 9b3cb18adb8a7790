package diff

import "github.com/deptool/deptool/store"

// HostNames lists the hosts of the config tree tree, sorted, narrowed to
// limit when it is not empty; an unknown name in limit is an error.
func HostNames(s *store.Store, tree store.ID, limit []string) ([]string, error) {
	hosts, err := hostEntries(s, tree)
	if err != nil {
		return nil, err
	}
	selected, err := selectHosts(hosts, limit, nil)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(selected))
	for i, h := range selected {
		names[i] = h.Name
	}
	return names, nil
}
