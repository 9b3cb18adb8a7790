package diff

import (
	"fmt"
	"slices"
	"testing"
)

func TestSuggestFindsTypos(t *testing.T) {
	var fleet []string
	for i := 1; i <= 40; i++ {
		fleet = append(fleet, fmt.Sprintf("ux%02d", i), fmt.Sprintf("uxweb%d", i))
	}
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"uxwbe1", []string{"uxweb1"}},                        // two letters swapped
		{"uxweb01", []string{"uxweb1", "uxweb10", "uxweb11"}}, // a letter too many
		{"ux1", []string{"ux01", "ux10", "ux11"}},             // many one typo away: the first three
		{"db9", nil}, // nothing near
	} {
		if got := Suggest(tc.name, fleet); !slices.Equal(got, tc.want) {
			t.Errorf("Suggest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := DidYouMean("uxwbe1", fleet); got != "; did you mean uxweb1?" {
		t.Errorf("DidYouMean = %q", got)
	}
}
