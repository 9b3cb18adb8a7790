package main

import (
	"os"
	"time"

	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/ui"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// progressFor picks the live display for a deploy: redrawn in place on a
// terminal, sized to it, and plain lines otherwise.
func progressFor(cmd *cobra.Command, plan *diff.Plan) ui.Progress {
	return progressForAt(cmd, plan, time.Now, time.Tick(500*time.Millisecond))
}

// progressForAt is progressFor with the display's clock and ticker given:
// tests drive both.
func progressForAt(cmd *cobra.Command, plan *diff.Plan, now func() time.Time, tick <-chan time.Time) ui.Progress {
	hosts := make([]string, len(plan.Hosts))
	for i, h := range plan.Hosts {
		hosts[i] = h.Host
	}
	errw := cmd.ErrOrStderr()
	f, ok := errw.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return ui.NewPlain(errw, hosts)
	}
	cols, rows, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return ui.NewPlain(errw, hosts)
	}
	var stages [][]string
	if plan.Rollout != nil {
		for _, st := range plan.Rollout.Stages {
			stages = append(stages, st.Hosts)
		}
	}
	return ui.NewLive(errw, hosts, ui.Terminal{Rows: rows, Cols: cols, Now: now, Tick: tick, Stages: stages})
}
