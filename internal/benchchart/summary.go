package benchchart

import (
	"slices"
	"sort"
	"strings"
)

// The series that scripts/bench-deploy.sh writes.
const (
	Deptool      = "deptool"               // steady state, --settle 0s
	NoConfirm    = "deptool-noconfirm"     // steady state, no connectivity confirmation
	Settle       = "deptool-settle"        // steady state, default settle window
	FirstContact = "deptool-first-contact" // agent upload included
	Ansible      = "ansible"
	Floor        = "ssh-floor" // parallel `ssh host true`
)

// known fixes the order of columns and legend entries; series not listed
// here follow in name order.
var known = []string{Deptool, NoConfirm, Settle, FirstContact, Ansible, Floor}

// Stat summarizes the runs of one series at one host count.
type Stat struct {
	N                int
	Median, Min, Max float64
	PeakRSSKB        int64
}

// Summary holds a Stat for each series and host count that has runs.
type Summary struct {
	Hosts  []int    // ascending
	Series []string // known series first, in their fixed order
	stats  map[point]Stat
}

type point struct {
	series string
	hosts  int
}

// Get returns the Stat for series at hosts, if there were runs.
func (s *Summary) Get(series string, hosts int) (Stat, bool) {
	st, ok := s.stats[point{series, hosts}]
	return st, ok
}

// Has reports whether series has runs at any host count.
func (s *Summary) Has(series string) bool {
	return slices.Contains(s.Series, series)
}

// Summarize groups runs by series and host count.
func Summarize(runs []Run) *Summary {
	secs := map[point][]float64{}
	rss := map[point]int64{}
	for _, r := range runs {
		p := point{r.Series, r.Hosts}
		secs[p] = append(secs[p], r.Seconds)
		rss[p] = max(rss[p], r.MaxRSSKB)
	}
	s := &Summary{stats: map[point]Stat{}}
	hosts := map[int]bool{}
	series := map[string]bool{}
	for p, v := range secs {
		slices.Sort(v)
		s.stats[p] = Stat{N: len(v), Median: median(v), Min: v[0], Max: v[len(v)-1], PeakRSSKB: rss[p]}
		hosts[p.hosts] = true
		series[p.series] = true
	}
	for h := range hosts {
		s.Hosts = append(s.Hosts, h)
	}
	slices.Sort(s.Hosts)
	for name := range series {
		s.Series = append(s.Series, name)
	}
	sort.Slice(s.Series, func(i, j int) bool {
		a, b := rank(s.Series[i]), rank(s.Series[j])
		if a != b {
			return a < b
		}
		return s.Series[i] < s.Series[j]
	})
	return s
}

func rank(series string) int {
	if i := slices.Index(known, series); i >= 0 {
		return i
	}
	return len(known)
}

// median of sorted values.
func median(v []float64) float64 {
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Ratio returns num/den of the medians at hosts, or false when either series
// lacks runs there.
func (s *Summary) Ratio(num, den string, hosts int) (float64, bool) {
	return s.ratio(num, den, hosts, func(st Stat) float64 { return st.Median })
}

// BestRatio compares the fastest runs, as the acceptance check in issue 8
// does with its best of five.
func (s *Summary) BestRatio(num, den string, hosts int) (float64, bool) {
	return s.ratio(num, den, hosts, func(st Stat) float64 { return st.Min })
}

func (s *Summary) ratio(num, den string, hosts int, f func(Stat) float64) (float64, bool) {
	a, ok1 := s.Get(num, hosts)
	b, ok2 := s.Get(den, hosts)
	if !ok1 || !ok2 {
		return 0, false
	}
	return f(a) / f(b), true
}

// PeakRSSKB is the largest max_rss_kb of deptool's own series at hosts: the
// memory a user must budget for, whichever mode they deploy in.
func (s *Summary) PeakRSSKB(hosts int) (int64, bool) {
	var peak int64
	found := false
	for _, name := range s.Series {
		if !isDeptool(name) {
			continue
		}
		if st, ok := s.Get(name, hosts); ok && st.PeakRSSKB > 0 {
			peak, found = max(peak, st.PeakRSSKB), true
		}
	}
	return peak, found
}

func (s *Summary) hasRSS() bool {
	for _, h := range s.Hosts {
		if _, ok := s.PeakRSSKB(h); ok {
			return true
		}
	}
	return false
}

func isDeptool(series string) bool {
	return series == Deptool || strings.HasPrefix(series, Deptool+"-")
}
