package diff

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Rollout is the order in which a deploy reaches the plan's hosts: stage
// after stage, the hosts of a stage in parallel. The deploy stops after
// the first stage in which a host did not deploy; the hosts of later
// stages are never contacted and stay pending.
type Rollout struct {
	Stages []Stage `json:"stages"`
}

// Stage is one step of a rollout.
type Stage struct {
	Name  string   `json:"name"` // "canary", "batch 2 of 3"
	Hosts []string `json:"hosts"`
}

// Batch is the size of a rollout's batches: N hosts, or N percent of the
// hosts after the canaries (rounded up, at least one).
type Batch struct {
	N       int
	Percent bool
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
// batches. No canaries and no batch size mean a single stage, nil.
func planRollout(hosts []HostPlan, known []string, canary []string, batch Batch) (*Rollout, error) {
	if len(canary) == 0 && batch.N == 0 {
		return nil, nil
	}
	inPlan := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		inPlan[h.Host] = true
	}
	isCanary := map[string]bool{}
	var problems []string
	for _, c := range canary {
		switch {
		case isCanary[c]:
		case !inPlan[c] && slices.Contains(known, c):
			problems = append(problems, fmt.Sprintf("canary %s is not in this plan (unchanged, pinned or outside --limit): pick a host the plan changes", c))
		case !inPlan[c]:
			problems = append(problems, fmt.Sprintf("canary %s is not a host in the config tree", c))
		}
		isCanary[c] = true
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	r := &Rollout{}
	var rest []string
	for _, h := range hosts {
		if isCanary[h.Host] {
			continue
		}
		rest = append(rest, h.Host)
	}
	if len(canary) > 0 {
		var cs []string
		for _, h := range hosts {
			if isCanary[h.Host] {
				cs = append(cs, h.Host)
			}
		}
		r.Stages = append(r.Stages, Stage{Name: "canary", Hosts: cs})
	}
	size := len(rest)
	if batch.N > 0 {
		size = batch.size(len(rest))
	}
	batches := (len(rest) + size - 1) / max(size, 1)
	for i := 0; i < len(rest); i += size {
		name := "rest"
		if batch.N > 0 {
			name = fmt.Sprintf("batch %d of %d", i/size+1, batches)
		}
		r.Stages = append(r.Stages, Stage{Name: name, Hosts: rest[i:min(i+size, len(rest))]})
	}
	return r, nil
}
