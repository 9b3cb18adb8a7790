package diff

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is one of N shares of a fleet, for several runners deploying it at
// once (--shard I/N). A host's share depends on its name alone, so a host
// stays in its share as hosts are added or removed, and the N shares of
// any set of hosts are disjoint and cover it. The zero Shard is the whole
// fleet.
type Shard struct {
	I, N int // 1 <= I <= N
}

// ParseShard reads "I/N"; "" is the zero Shard.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, ierr := strconv.Atoi(strings.TrimSpace(is))
	n, nerr := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || ierr != nil || nerr != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("shard %q: want I/N, this runner's share I of N, with 1 <= I <= N (e.g. 2/4)", s)
	}
	return Shard{I: i, N: n}, nil
}

// Whole says the shard is the whole fleet.
func (s Shard) Whole() bool { return s.N <= 1 }

func (s Shard) String() string {
	if s.Whole() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// Has says whether host is in the shard: the FNV-1a hash of its name,
// modulo N, is I-1.
func (s Shard) Has(host string) bool {
	if s.Whole() {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(host))
	return int(h.Sum64()%uint64(s.N)) == s.I-1
}

// Of keeps the hosts in the shard, in their order.
func (s Shard) Of(hosts []string) []string {
	if s.Whole() {
		return hosts
	}
	out := make([]string, 0, len(hosts)/s.N+1)
	for _, h := range hosts {
		if s.Has(h) {
			out = append(out, h)
		}
	}
	return out
}
