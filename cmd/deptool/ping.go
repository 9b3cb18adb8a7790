package main

import (
	"fmt"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/ui"
	"github.com/spf13/cobra"
)

func newPingCmd() *cobra.Command {
	var (
		count    int
		shard    string
		limit    []string
		output   string
		parallel int
		verbose  bool
	)
	cmd := &cobra.Command{
		Use:   "ping [--count N] [--limit HOSTS]... [<dir>]",
		Short: "Measure round trips to each host's agent",
		Long: `Connect to every host in the config tree, start deptool's agent there
(uploading it on first contact) and measure round trips over the agent
protocol: the connection set-up time, then N pings. Printed as one
distribution for the fleet (min | p50 | p95 | max of set-ups and of round
trips), the hosts far slower than the rest named, and the hosts that did
not answer grouped by reason; --verbose prints a line per host. Nothing is
changed on any host.

Exit status: 0 when every host answered; 3 when a host did not.`,
		Example: `  deptool ping
  deptool ping --count 20 --limit web1`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputFormat(output)
			if err != nil {
				return err
			}
			if count < 1 {
				return fmt.Errorf("--count %d: want at least 1", count)
			}
			c, err := openCluster(cmd, args)
			if err != nil {
				return err
			}
			hosts, err := c.selectShard(limit, shard)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			tr, err := transportOptions(c.store, false)
			if err != nil {
				return err
			}
			// One line per host at the end, not one per round trip: a
			// fleet's worth of interleaved replies is unreadable.
			opts := deploy.PingOptions{ConnectOptions: connectOptions(parallel, tr), Count: count}
			results := deploy.Ping(cmd.Context(), hosts, opts)
			if err := ui.NewPrinter(out, asJSON, false, verbose).Pings(results); err != nil {
				return err
			}
			return pingExit(results)
		},
	}
	cmd.Flags().IntVarP(&count, "count", "c", 5, "round trips per host")
	cmd.Flags().IntVar(&parallel, "parallel", deploy.DefaultParallel, "how many hosts to contact at once")
	addLimitFlag(cmd, &limit)
	addShardFlag(cmd, &shard)
	addOutputFlag(cmd, &output)
	addVerboseFlag(cmd, &verbose)
	return cmd
}

func pingExit(results []deploy.PingResult) error {
	failed := 0
	for _, r := range results {
		if r.Error != "" {
			failed++
		}
	}
	if failed > 0 {
		return &exitError{code: exitHostFailed, err: fmt.Errorf("%d of %d hosts did not answer", failed, len(results))}
	}
	return nil
}
