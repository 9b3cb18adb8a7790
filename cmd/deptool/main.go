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
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/deptool/deptool/internal/ui"
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
	// A reader that closed its end (deptool diff | head -1) gets what it
	// wanted: writes to it fail with EPIPE instead of killing deptool, so
	// a deploy whose output goes nowhere still finishes and records its
	// outcomes, and a command whose output was all it had to do ends
	// quietly with 0.
	signal.Ignore(syscall.SIGPIPE)
	stopProfile := startProfile()
	cmd, err := newRootCmd().ExecuteContextC(ctx)
	stopProfile()
	if err == nil || errors.Is(err, syscall.EPIPE) {
		return
	}
	code := exitFailure
	// cobra's own error for an unknown command: a usage error, and
	// "version" meant the flag.
	if word, ok := strings.CutPrefix(err.Error(), `unknown command "`); ok {
		code = exitUsage
		if strings.HasPrefix(word, `version"`) {
			err = fmt.Errorf("%w; the version is 'deptool --version'", err)
		}
	}
	fmt.Fprintln(os.Stderr, "deptool:", err)
	var coded *exitError
	if errors.As(err, &coded) {
		code = coded.code
	}
	// A pipeline reading the event stream learns why it ended from the
	// stream itself.
	if out := cmd.Flags().Lookup("output"); out != nil && out.Value.String() == "json" {
		ui.NewEvents(os.Stdout).Error(err, code)
	}
	os.Exit(code)
}
