// Command deptool deploys a config tree to a fleet of hosts over SSH, with
// per-host automatic rollback. This package only wires flags to the store,
// diff and deploy packages and prints what they return.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the command to the file named by
// DEPTOOL_CPUPROFILE, for `go tool pprof` (scripts/bench-sim.sh, issue
// 25); the function returned ends it.
func startProfile() func() {
	file := os.Getenv("DEPTOOL_CPUPROFILE")
	if file == "" {
		return func() {}
	}
	f, err := os.Create(file)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "deptool: DEPTOOL_CPUPROFILE:", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func main() {
	// See interrupts: what an interrupt does depends on the moment.
	ctx, stop := withInterrupts(context.Background(), os.Stderr)
	defer stop()
	installRemoteSSH()
	stopProfile := startProfile()
	cmd, err := newRootCmd().ExecuteContextC(ctx)
	stopProfile()
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
