package ui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/deptool/deptool/diff"
)

// A fleet is mostly hosts that do the same thing, so most of a large plan
// is the same block again and again. Hosts whose plans differ only in the
// host's name are shown once, under a compact list of their names. Two
// host plans are never equal field for field (each host's Base is its own
// host commit), so "the same plan" is what the plan does: its rendered
// body, every app, file, link, unit and check, without the host's name.

// hostGroup is hosts with the same plan body, in plan order.
type hostGroup struct {
	hosts []string
	body  string
}

// groupHosts groups rendered host bodies by their text, each group where
// its first host was, so the order stays the plan's order.
func groupHosts(names []string, bodies []string) []hostGroup {
	var groups []hostGroup
	at := map[string]int{}
	for i, body := range bodies {
		if g, ok := at[body]; ok {
			groups[g].hosts = append(groups[g].hosts, names[i])
			continue
		}
		at[body] = len(groups)
		groups = append(groups, hostGroup{hosts: []string{names[i]}, body: body})
	}
	return groups
}

// maxRanges bounds a compact host list: a list of a thousand scattered
// names is no use to read, and would push the plan off the screen.
const maxRanges = 8

// CompactHosts names hosts in a line: runs of numbered names become
// ranges (web01..web40), and more than one host gets a count:
// "db1, web01..web40 (41 hosts)".
func CompactHosts(hosts []string) string {
	ranges := hostRanges(hosts)
	s := strings.Join(ranges[:min(len(ranges), maxRanges)], ", ")
	if len(ranges) > maxRanges {
		s += fmt.Sprintf(" and %d more", len(ranges)-maxRanges)
	}
	if len(hosts) > 1 {
		s += fmt.Sprintf(" (%d hosts)", len(hosts))
	}
	return s
}

// numbered is a host name split around its last run of digits.
type numbered struct {
	name, prefix, digits, suffix string
	n                            int
}

func splitNumber(name string) numbered {
	end := strings.LastIndexAny(name, "0123456789") + 1
	if end == 0 {
		return numbered{name: name, prefix: name, n: -1}
	}
	start := end
	for start > 0 && name[start-1] >= '0' && name[start-1] <= '9' {
		start--
	}
	n, err := strconv.Atoi(name[start:end])
	if err != nil || end-start > 9 {
		return numbered{name: name, prefix: name, n: -1}
	}
	return numbered{name: name, prefix: name[:start], digits: name[start:end], suffix: name[end:], n: n}
}

// follows reports whether b is the name after a: same prefix, suffix and
// width of number (web09, web10), the number one more.
func (b numbered) follows(a numbered) bool {
	return a.n >= 0 && b.n == a.n+1 && a.prefix == b.prefix && a.suffix == b.suffix &&
		(len(a.digits) == len(b.digits) || a.digits[0] != '0' && b.digits[0] != '0')
}

// hostRanges sorts hosts by name and number (web2 before web10) and joins
// runs of three or more consecutive numbers into first..last.
func hostRanges(hosts []string) []string {
	ns := make([]numbered, len(hosts))
	for i, h := range hosts {
		ns[i] = splitNumber(h)
	}
	sort.SliceStable(ns, func(i, j int) bool {
		a, b := ns[i], ns[j]
		if a.prefix != b.prefix {
			return a.prefix < b.prefix
		}
		if a.suffix != b.suffix {
			return a.suffix < b.suffix
		}
		if a.n != b.n {
			return a.n < b.n
		}
		return a.name < b.name
	})
	var out []string
	for i := 0; i < len(ns); {
		j := i + 1
		for j < len(ns) && ns[j].follows(ns[j-1]) {
			j++
		}
		switch j - i {
		case 1:
			out = append(out, ns[i].name)
		case 2:
			out = append(out, ns[i].name, ns[i+1].name)
		default:
			out = append(out, ns[i].name+".."+ns[j-1].name)
		}
		i = j
	}
	return out
}

// planTotals counts what a plan does across all its hosts.
type planTotals struct {
	hosts, added, updated, removed, restarts, reloads int
}

func totalsOf(p *diff.Plan) planTotals {
	t := planTotals{hosts: len(p.Hosts)}
	for _, h := range p.Hosts {
		for _, a := range h.Apps {
			switch a.Action {
			case diff.Add:
				t.added++
			case diff.Update:
				t.updated++
			case diff.Remove:
				t.removed++
			}
			for _, u := range a.Units {
				switch u.Op {
				case diff.Restart:
					t.restarts++
				case diff.Reload:
					t.reloads++
				}
			}
		}
	}
	return t
}

func (t planTotals) String() string {
	s := fmt.Sprintf("Total: %d %s; apps: %d added, %d updated, %d removed; %d %s restarted",
		t.hosts, plural(t.hosts, "host", "hosts"), t.added, t.updated, t.removed,
		t.restarts, plural(t.restarts, "unit", "units"))
	if t.reloads > 0 {
		s += fmt.Sprintf(", %d reloaded", t.reloads)
	}
	return s + "."
}
