package diff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// GroupsFile is the file at the top of a cluster directory that names
// groups of hosts. It sits beside the host directories, not in one, so
// it is never deployed to a host.
const GroupsFile = "groups.json"

// GroupPrefix marks a group in a selection: "@web" is the group web,
// "web" the host web. Host names cannot contain '@', so the two never
// mix up, whatever the groups are called.
const GroupPrefix = "@"

// Groups maps group names to their hosts, each list sorted. Its zero value
// has no groups.
type Groups map[string][]string

// groupsJSON is the shape of groups.json:
//
//	{"groups": {"web": ["web*", "lb1"], "db": ["db1", "db2"]}}
//
// The outer object leaves room for settings that may come later; a key
// it does not know is an error, as in manifest.json.
type groupsJSON struct {
	Groups map[string][]string `json:"groups"`
}

// ParseGroups reads groups.json against the hosts of the config tree it
// came with. Members are host names or globs (path.Match syntax); every
// problem is reported at once: a name that is not a host, a glob that
// matches none, a group named like a host, an empty group.
func ParseGroups(data []byte, hosts []string) (Groups, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var g groupsJSON
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("%s: %w", GroupsFile, groupsJSONError(data, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: more than one JSON value; the file holds one object, {\"groups\": {...}}", GroupsFile)
	}
	isHost := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		isHost[h] = true
	}
	out := Groups{}
	var problems []string
	for _, name := range sortedKeysOf(g.Groups) {
		members := g.Groups[name]
		if msg := checkGroupName(name); msg != "" {
			problems = append(problems, fmt.Sprintf("group %q: %s", name, msg))
			continue
		}
		if isHost[name] {
			problems = append(problems, fmt.Sprintf("group %s has the name of a host: rename the group, so that --limit %s and --limit %s%s cannot be confused", name, name, GroupPrefix, name))
			continue
		}
		if len(members) == 0 {
			problems = append(problems, fmt.Sprintf("group %s is empty: list host names or globs such as \"web*\"", name))
			continue
		}
		set := map[string]bool{}
		for _, m := range members {
			if strings.TrimSpace(m) == "" {
				problems = append(problems, fmt.Sprintf("group %s lists an empty name, which is no host: remove it", name))
				continue
			}
			matched, msg := matchMember(m, hosts, isHost)
			if msg != "" {
				problems = append(problems, fmt.Sprintf("group %s: %s", name, msg))
			}
			for _, h := range matched {
				set[h] = true
			}
		}
		out[name] = sortedSet(set)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: %s", GroupsFile, strings.Join(problems, "; "))
	}
	return out, nil
}

func groupsJSONError(data []byte, err error) error {
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		msg := "unknown key " + name
		if guess := closest(strings.Trim(name, `"`), []string{"groups"}); guess != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", guess)
		}
		return errors.New(msg + `; the file is {"groups": {"NAME": ["host", "glob*"]}}`)
	}
	return describeJSONError(data, err)
}

// checkGroupName says what is wrong with a group's name, or "": the same
// characters as a host name, so a group reads like one after its '@'.
func checkGroupName(name string) string {
	if name == "" {
		return "a group needs a name"
	}
	for _, c := range name {
		if !isAlnum(c) && !strings.ContainsRune("-_.", c) {
			return fmt.Sprintf("group names use letters, digits, '-', '_' and '.', not %q", c)
		}
	}
	return ""
}

// isGlob reports whether a selection term is a pattern rather than a name.
func isGlob(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// matchMember resolves one host name or glob against hosts; msg says what
// is wrong with it.
func matchMember(m string, hosts []string, isHost map[string]bool) (matched []string, msg string) {
	switch {
	case strings.HasPrefix(m, GroupPrefix):
		return nil, fmt.Sprintf("%q: a group lists hosts and globs, not other groups", m)
	case isGlob(m):
		if _, err := path.Match(m, ""); err != nil {
			return nil, fmt.Sprintf("glob %q is malformed (%v); globs use *, ? and [a-z] as in shell patterns", m, err)
		}
		for _, h := range hosts {
			if ok, _ := path.Match(m, h); ok {
				matched = append(matched, h)
			}
		}
		if len(matched) == 0 {
			return nil, fmt.Sprintf("glob %q matches no host in the config tree%s", m, suggest(m, hosts))
		}
		return matched, ""
	case isHost[m]:
		return []string{m}, ""
	}
	if s := suggest(m, hosts); s != "" {
		return nil, fmt.Sprintf("unknown host %s%s", m, s)
	}
	return nil, fmt.Sprintf("unknown host %s: not in the config tree (hosts: %s)", m, someNames(hosts))
}

// someNames lists the first names, enough to show what is there without
// filling a screen on a large fleet.
func someNames(names []string) string {
	const show = 20
	if len(names) == 0 {
		return "none"
	}
	s := strings.Join(names[:min(len(names), show)], ", ")
	if len(names) > show {
		s += fmt.Sprintf(" and %d more", len(names)-show)
	}
	return s
}

// suggest is " (did you mean X?)" for the nearest of names, or "".
func suggest(s string, names []string) string {
	// A glob is compared without its wildcards: "wbe*" is near "web1".
	bare := strings.Map(func(r rune) rune {
		if strings.ContainsRune(`*?[]\`, r) {
			return -1
		}
		return r
	}, s)
	best, bestDist := "", 3
	for _, n := range names {
		cmp := n
		if bare != s && len(n) > len(bare) {
			cmp = n[:len(bare)] // a glob's prefix against the names' prefixes
		}
		if d := editDistance(bare, cmp); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// Select resolves a selection (--limit, --canary) to host names, in the
// order of hosts. Each term is a host name, a glob (web*, path.Match
// syntax) or a group (@web). A name that is no host, a glob that matches
// none and an unknown group are errors, all named at once, each with the
// nearest name when there is one. No terms select nothing: the callers
// treat that as "every host"; an empty term is an error, never "all".
func Select(hosts []string, groups Groups, terms []string) ([]string, error) {
	isHost := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		isHost[h] = true
	}
	want := map[string]bool{}
	var problems []string
	for _, t := range terms {
		t = strings.TrimSpace(t)
		if msg := checkTerm(t); msg != "" {
			problems = append(problems, msg)
			continue
		}
		if g, ok := strings.CutPrefix(t, GroupPrefix); ok {
			members, known := groups[g]
			if !known {
				problems = append(problems, unknownGroup(g, groups))
			}
			for _, h := range members {
				want[h] = true
			}
			continue
		}
		matched, msg := matchMember(t, hosts, isHost)
		if msg != "" {
			problems = append(problems, msg)
		}
		for _, h := range matched {
			want[h] = true
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	out := make([]string, 0, len(want))
	for _, h := range hosts {
		if want[h] {
			out = append(out, h)
		}
	}
	return out, nil
}

// checkTerm says what is wrong with a selection term as such, or "": an
// empty name or group selects nothing, and must not pass for "all".
func checkTerm(t string) string {
	switch t {
	case "":
		return "an empty name selects no host; to select every host, select none (leave out --limit)"
	case GroupPrefix:
		return "\"" + GroupPrefix + "\" names no group; groups are selected as " + GroupPrefix + "NAME"
	}
	return ""
}

func unknownGroup(g string, groups Groups) string {
	names := sortedKeysOf(groups)
	if len(names) == 0 {
		return fmt.Sprintf("unknown group %s%s: the cluster has no %s; define groups there as {\"groups\": {\"%s\": [\"host\", \"glob*\"]}}", GroupPrefix, g, GroupsFile, g)
	}
	msg := fmt.Sprintf("unknown group %s%s", GroupPrefix, g)
	if guess := closest(g, names); guess != "" {
		return msg + fmt.Sprintf(" (did you mean %s%s?)", GroupPrefix, guess)
	}
	return msg + fmt.Sprintf(" (groups in %s: %s%s)", GroupsFile, GroupPrefix, strings.Join(names, ", "+GroupPrefix))
}

func sortedKeysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// selectsByName reports whether a selection term is a name (true) or a pattern
// that may match hosts the plan leaves out (false), for --canary: a
// named canary must be in the plan; a glob or group contributes those of
// its hosts that are.
func selectsByName(term string) bool {
	return !isGlob(term) && !strings.HasPrefix(term, GroupPrefix)
}

// Matcher is Select for hosts not known in advance, such as the hosts of
// old deploys in the log, some of them gone from the tree: a predicate
// that says whether a host is selected. Only a malformed glob and an
// unknown group are errors.
func Matcher(groups Groups, terms []string) (func(host string) bool, error) {
	names := map[string]bool{}
	var globs, problems []string
	for _, t := range terms {
		t = strings.TrimSpace(t)
		switch g, isGroup := strings.CutPrefix(t, GroupPrefix); {
		case checkTerm(t) != "":
			problems = append(problems, checkTerm(t))
		case isGroup:
			members, ok := groups[g]
			if !ok {
				problems = append(problems, unknownGroup(g, groups))
			}
			for _, h := range members {
				names[h] = true
			}
		case isGlob(t):
			if _, err := path.Match(t, ""); err != nil {
				problems = append(problems, fmt.Sprintf("glob %q is malformed (%v); globs use *, ? and [a-z] as in shell patterns", t, err))
			}
			globs = append(globs, t)
		default:
			names[t] = true
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return func(host string) bool {
		if names[host] {
			return true
		}
		for _, g := range globs {
			if ok, _ := path.Match(g, host); ok {
				return true
			}
		}
		return false
	}, nil
}

// UsesGroups reports whether a selection names a group, which needs the
// cluster's groups.json.
func UsesGroups(terms []string) bool {
	for _, t := range terms {
		if strings.HasPrefix(strings.TrimSpace(t), GroupPrefix) {
			return true
		}
	}
	return false
}

// IsPattern reports whether a selection term is a glob or a group rather
// than a host's name.
func IsPattern(term string) bool { return !selectsByName(strings.TrimSpace(term)) }
