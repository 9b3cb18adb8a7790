// Command deptool deploys a config tree to a fleet of hosts over SSH, with
// per-host automatic rollback. This package only wires flags to the store,
// diff and deploy packages and prints what they return.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	err := newRootCmd().Execute()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "deptool:", err)
	var coded *exitError
	if errors.As(err, &coded) {
		os.Exit(coded.code)
	}
	os.Exit(exitFailure)
}
