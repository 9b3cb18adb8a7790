package diff

import "testing"

func TestDidYouMeanFindsTypos(t *testing.T) {
	fleet := []string{"db1", "uxweb1", "uxweb2", "web1"}
	if got := DidYouMean("uxwbe1", fleet); got != " (did you mean uxweb1?)" {
		t.Errorf("DidYouMean(uxwbe1) = %q", got)
	}
	if got := DidYouMean("postgres-primary", fleet); got != "" {
		t.Errorf("DidYouMean of nothing near = %q", got)
	}
}
