package store

import (
	"fmt"
	"path"
)

// becomeMethods are the values deptool.become may take; the transport
// knows what each means.
var becomeMethods = map[string]bool{"sudo": true, "doas": true, "run0": true}

// BecomeRules reads how a login user other than root becomes root, per
// host, from the store's Git config, shared with everyone who shares the
// store:
//
//	[deptool]
//		become = sudo
//	[deptool "db*"]
//		become = doas
//
// As in ssh_config, the first section whose host pattern (a glob, as
// path.Match) matches the host and sets become wins; then deptool.become;
// then "" (the transport's default, sudo). Values and patterns are checked
// here, so a typo is one error before anything connects.
func (s *Store) BecomeRules() (func(host string) string, error) {
	cfg, err := s.repo.Config()
	if err != nil {
		return nil, fmt.Errorf("store: read config: %w", err)
	}
	sec := cfg.Raw.Section("deptool")
	type rule struct{ pattern, method string }
	var rules []rule
	for _, ss := range sec.Subsections {
		m := ss.Option("become")
		if m == "" {
			continue
		}
		if !becomeMethods[m] {
			return nil, fmt.Errorf("store: deptool.%s.become = %q: want sudo, doas or run0", ss.Name, m)
		}
		if _, err := path.Match(ss.Name, ""); err != nil {
			return nil, fmt.Errorf("store: [deptool %q]: bad host pattern: %v", ss.Name, err)
		}
		rules = append(rules, rule{ss.Name, m})
	}
	def := sec.Option("become")
	if def != "" && !becomeMethods[def] {
		return nil, fmt.Errorf("store: deptool.become = %q: want sudo, doas or run0", def)
	}
	return func(host string) string {
		for _, r := range rules {
			if ok, _ := path.Match(r.pattern, host); ok {
				return r.method
			}
		}
		return def
	}, nil
}
