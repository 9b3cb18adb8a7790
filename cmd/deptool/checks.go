package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy"
)

// printChecks shows one line per health check the host ran, under its unit
// lines, so a rollback caused by a check names it and its last error.
func printChecks(w io.Writer, indent int, checks []deploy.CheckReport) {
	pad := strings.Repeat(" ", indent+2)
	for _, c := range checks {
		tries := fmt.Sprintf("%d %s in %s", c.Attempts, pluralWord(c.Attempts, "attempt", "attempts"), c.Elapsed.Round(10*time.Millisecond))
		if c.OK {
			fmt.Fprintf(w, "%s%s: check %s: ok (%s)\n", pad, c.App, c.Check, tries)
			continue
		}
		fmt.Fprintf(w, "%s%s: check %s: FAILED after %s: %s\n", pad, c.App, c.Check, tries, c.Error)
	}
}

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
