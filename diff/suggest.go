package diff

// DidYouMean is " (did you mean X?)" for the name among known nearest to
// name, or "": the same suggestion --limit and --canary make, for the
// other places a host is named (log --limit, pin).
func DidYouMean(name string, known []string) string { return suggest(name, known) }
