package deploy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/deptool/deptool/store"
)

// Entry is one deploy as the store's history records it: the deploy
// commit, and each host's outcome from the note the deploy left.
type Entry struct {
	Commit   store.ID  `json:"commit"`
	Time     time.Time `json:"time"`
	Operator string    `json:"operator"`
	Message  string    `json:"message"`
	// Source is the commit of the source-of-truth repository the tree was
	// generated from, "-dirty" when it had uncommitted changes; "" when
	// unknown.
	Source string       `json:"source,omitempty"`
	Hosts  []HostResult `json:"hosts"`
	// Recorded is false for a deploy that never finished recording its
	// outcomes: the operator was interrupted or killed.
	Recorded bool `json:"recorded"`
}

// Subject is the first line of the deploy's message.
func (e Entry) Subject() string { return strings.SplitN(e.Message, "\n", 2)[0] }

// History decodes the store's deploys, newest first, at most n (0: all).
// With hosts, only deploys that touched one of them are listed, each with
// only those hosts' outcomes.
func History(s *store.Store, hosts []string, n int) ([]Entry, error) {
	history, err := s.History(0)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, c := range history {
		if n > 0 && len(out) == n {
			break
		}
		e := Entry{Commit: c.ID, Time: c.Time, Operator: c.Operator, Message: strings.TrimSpace(c.Message), Source: sourceIn(c.Message)}
		note, ok, err := s.Outcomes(c.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			var res Result
			if err := json.Unmarshal(note, &res); err != nil {
				return nil, fmt.Errorf("commit %s: outcomes note: %w", c.ID.Short(), err)
			}
			e.Recorded, e.Hosts = true, res.Hosts
		}
		if len(hosts) > 0 {
			e.Hosts = slices.DeleteFunc(e.Hosts, func(h HostResult) bool { return !slices.Contains(hosts, h.Host) })
			if len(e.Hosts) == 0 {
				continue
			}
		}
		slices.SortFunc(e.Hosts, func(a, b HostResult) int { return strings.Compare(a.Host, b.Host) })
		out = append(out, e)
	}
	return out, nil
}

// DeployedVersions are the deploys in which at least one of hosts (every
// host, when none are named) deployed, newest first: what a rollback can go
// back to.
func DeployedVersions(s *store.Store, hosts []string) ([]Entry, error) {
	entries, err := History(s, hosts, 0)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(entries, func(e Entry) bool {
		return !slices.ContainsFunc(e.Hosts, func(h HostResult) bool { return h.Outcome == Deployed })
	}), nil
}
