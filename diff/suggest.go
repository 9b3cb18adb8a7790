package diff

import (
	"sort"
	"strings"
)

// DidYouMean is "; did you mean X?" for the names among known closest to
// name, a typo away (an edit distance of at most a third of name's
// length, at least 1; or else names that begin with it), or "" when none is.
func DidYouMean(name string, known []string) string {
	best := Suggest(name, known)
	if len(best) == 0 {
		return ""
	}
	return "; did you mean " + strings.Join(best, " or ") + "?"
}

// Suggest returns the names among known nearest to name, at most three:
// those the fewest typos away, or else those name begins.
func Suggest(name string, known []string) []string {
	limit := max(1, len(name)/3)
	best, bestDist := []string(nil), limit+1
	var prefixed []string
	for _, k := range known {
		if k == name {
			continue
		}
		switch d := typoDistance(name, k); {
		case d < bestDist:
			best, bestDist = []string{k}, d
		case d == bestDist:
			best = append(best, k)
		}
		if len(name) >= 3 && strings.HasPrefix(k, name) {
			prefixed = append(prefixed, k)
		}
	}
	if len(best) == 0 {
		best = prefixed
	}
	sort.Strings(best)
	return best[:min(len(best), 3)]
}

// typoDistance is the Damerau-Levenshtein distance (optimal string
// alignment) of a and b: a swap of two letters counts as one typo.
func typoDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
