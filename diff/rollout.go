package diff

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Rollout is the order in which a deploy reaches the plan's hosts: stage
// after stage, the hosts of a stage in parallel. A failed canary stops the
// rollout; after the other stages it stops once more hosts have not
// deployed than the budget allows (none by default). The hosts of later
// stages are never contacted and stay pending.
type Rollout struct {
	Stages []Stage `json:"stages"`
	// MaxFail is the failure budget as given ("2", "10%"); empty: none.
	MaxFail string `json:"max_fail,omitempty"`
	// Allowed is how many hosts may fail to deploy before the rollout
	// stops: MaxFail resolved against the hosts of the plan.
	Allowed int `json:"allowed_failures"`
	// Untouched are the canaries (as given) that select no host this plan
	// changes: a fixed canary group already up to date. They make no
	// stage; the rollout starts with the next one.
	Untouched []string `json:"canaries_untouched,omitempty"`
}

// Stage is one step of a rollout.
type Stage struct {
	Name  string   `json:"name"` // "canary", "batch 2 of 3"
	Hosts []string `json:"hosts"`
	// Canary stages stop the rollout on any failure, whatever the budget:
	// they are there to find out whether the change works at all.
	Canary bool `json:"canary,omitempty"`
}

// Continue reports whether the rollout goes on after stage i, when failed
// hosts of it and the stages before have not deployed.
func (r *Rollout) Continue(i, failed int) bool {
	if failed == 0 {
		return true
	}
	if r == nil || r.Stages[i].Canary {
		return false
	}
	return failed <= r.Allowed
}

// Batch is the size of a rollout's batches: N hosts, or N percent of the
// hosts after the canaries (rounded up, at least one).
type Batch struct {
	N       int
	Percent bool
}

// Ramp is a list of batch sizes ("1,5,25%"): the first batch takes the
// first size, and so on, the last size repeating until every host is in
// a batch.
type Ramp []Batch

// ParseRamp reads a comma-separated list of batch sizes.
func ParseRamp(s string) (Ramp, error) {
	var r Ramp
	for _, part := range strings.Split(s, ",") {
		b, err := ParseBatch(part)
		if err != nil {
			return nil, err
		}
		r = append(r, b)
	}
	return r, nil
}

func (r Ramp) String() string {
	parts := make([]string, len(r))
	for i, b := range r {
		parts[i] = b.String()
	}
	return strings.Join(parts, ",")
}

// sizes splits n hosts into batches along the ramp.
func (r Ramp) sizes(n int) []int {
	var out []int
	for i, left := 0, n; left > 0; i++ {
		size := min(r[min(i, len(r)-1)].size(n), left)
		out = append(out, size)
		left -= size
	}
	return out
}

// Budget is how many targeted hosts may fail to deploy before a rollout
// stops: N hosts, or N percent of them (rounded down).
type Budget struct {
	N       int
	Percent bool
}

// ParseBudget reads "N" or "N%" for --max-fail.
func ParseBudget(s string) (Budget, error) {
	num, percent := strings.CutSuffix(strings.TrimSpace(s), "%")
	n, err := strconv.Atoi(num)
	switch {
	case err != nil || n < 0:
		return Budget{}, fmt.Errorf("max-fail %q: want a number of hosts (2) or a percentage of the hosts deployed to (10%%), 0 or more", s)
	case percent && n > 100:
		return Budget{}, fmt.Errorf("max-fail %q: a percentage is at most 100%%", s)
	}
	return Budget{N: n, Percent: percent}, nil
}

func (b Budget) String() string {
	if b.Percent {
		return fmt.Sprintf("%d%%", b.N)
	}
	return strconv.Itoa(b.N)
}

// allowed is how many of n hosts may fail.
func (b Budget) allowed(n int) int {
	if !b.Percent {
		return b.N
	}
	return n * b.N / 100
}

// ParseBatch reads "N" or "N%".
func ParseBatch(s string) (Batch, error) {
	num, percent := strings.CutSuffix(strings.TrimSpace(s), "%")
	n, err := strconv.Atoi(num)
	switch {
	case err != nil || n < 1:
		return Batch{}, fmt.Errorf("batch %q: want a number of hosts (3) or a percentage of them (25%%), at least 1", s)
	case percent && n > 100:
		return Batch{}, fmt.Errorf("batch %q: a percentage is at most 100%%", s)
	}
	return Batch{N: n, Percent: percent}, nil
}

func (b Batch) String() string {
	if b.Percent {
		return fmt.Sprintf("%d%%", b.N)
	}
	return strconv.Itoa(b.N)
}

// size is how many of n hosts go in one batch.
func (b Batch) size(n int) int {
	if !b.Percent {
		return b.N
	}
	return max(1, int(math.Ceil(float64(n)*float64(b.N)/100)))
}

// planRollout orders hosts into stages: the canaries, then the rest in
// batches along the ramp. No canaries and no ramp mean a single stage, nil.
func planRollout(hosts []HostPlan, known []string, groups Groups, canary []string, ramp Ramp, budget *Budget) (*Rollout, error) {
	if len(canary) == 0 && len(ramp) == 0 {
		return nil, nil
	}
	isCanary, untouched, err := canaries(hosts, known, groups, canary)
	if err != nil {
		return nil, err
	}
	r := &Rollout{Untouched: untouched}
	if budget != nil {
		r.MaxFail, r.Allowed = budget.String(), budget.allowed(len(hosts))
	}
	var cs, rest []string
	for _, h := range hosts {
		if isCanary[h.Host] {
			cs = append(cs, h.Host)
		} else {
			rest = append(rest, h.Host)
		}
	}
	if len(cs) > 0 {
		r.Stages = append(r.Stages, Stage{Name: "canary", Hosts: cs, Canary: true})
	}
	if len(ramp) == 0 {
		if len(rest) > 0 {
			r.Stages = append(r.Stages, Stage{Name: "rest", Hosts: rest})
		}
		return r, nil
	}
	sizes := ramp.sizes(len(rest))
	for i, size := range sizes {
		name := fmt.Sprintf("batch %d of %d", i+1, len(sizes))
		r.Stages = append(r.Stages, Stage{Name: name, Hosts: rest[:size]})
		rest = rest[size:]
	}
	return r, nil
}

// canaries resolves --canary against the plan. A host named outright must
// be in the config tree, a glob or group must match one; each adds those
// of its hosts the plan changes. One that adds none is untouched: a fixed
// canary group (in CI, say) whose hosts are up to date has nothing to
// prove on this run, and refusing would block the fix-up of the others.
func canaries(hosts []HostPlan, known []string, groups Groups, canary []string) (map[string]bool, []string, error) {
	inPlan := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		inPlan[h.Host] = true
	}
	isCanary := map[string]bool{}
	var problems, untouched []string
	for _, c := range canary {
		if strings.TrimSpace(c) == "" {
			problems = append(problems, "an empty canary selects no host; to deploy without a canary, leave out --canary")
			continue
		}
		if !selectsByName(c) {
			matched, err := Select(known, groups, []string{c})
			if err != nil {
				problems = append(problems, "canary "+err.Error())
				continue
			}
			n := 0
			for _, h := range matched {
				if inPlan[h] {
					isCanary[h] = true
					n++
				}
			}
			if n == 0 {
				untouched = append(untouched, c)
			}
			continue
		}
		switch {
		case isCanary[c]:
		case !inPlan[c] && slices.Contains(known, c):
			untouched = append(untouched, c) // unchanged, pinned or outside --limit
			continue
		case !inPlan[c]:
			problems = append(problems, fmt.Sprintf("canary %s is not a host in the config tree%s", c, suggest(c, known)))
		}
		isCanary[c] = true
	}
	if len(problems) > 0 {
		return nil, nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return isCanary, untouched, nil
}
