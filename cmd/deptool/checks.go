package main

import (
	"fmt"

	"github.com/deptool/deptool/deploy"
)

// failedChecks names the checks that never passed, for 'deptool log'.
func failedChecks(checks []deploy.CheckReport) []string {
	var out []string
	for _, c := range checks {
		if !c.OK {
			out = append(out, fmt.Sprintf("app %s: check %s: %s", c.App, c.Check, c.Error))
		}
	}
	return out
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
