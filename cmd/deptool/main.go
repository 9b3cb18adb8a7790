// Command deptool deploys a config tree to a fleet of hosts over SSH, with
// per-host automatic rollback. This package only wires flags to the store,
// diff and deploy packages and prints what they return.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// On interrupt the context ends: no new host is started, and agents
	// already applying finish on their own and release their locks.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	installRemoteSSH()
	cmd, err := newRootCmd().ExecuteContextC(ctx)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "deptool:", err)
	code := exitFailure
	var coded *exitError
	if errors.As(err, &coded) {
		code = coded.code
	}
	// A pipeline reading the event stream learns why it ended from the
	// stream itself.
	if out := cmd.Flags().Lookup("output"); out != nil && out.Value.String() == "json" {
		newEventStream(os.Stdout).emit("error", errorEvent{Error: err.Error(), ExitCode: code})
	}
	os.Exit(code)
}
