package main

import (
	"fmt"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/spf13/cobra"
)

func newPingCmd() *cobra.Command {
	var (
		count    int
		shard    string
		limit    []string
		output   string
		parallel int
	)
	cmd := &cobra.Command{
		Use:   "ping [--count N] [--limit HOSTS]... [<dir>]",
		Short: "Measure round trips to each host's agent",
		Long: `Connect to every host in the config tree, start deptool's agent there
(uploading it on first contact) and measure round trips over the agent
protocol: the connection set-up time, then min, p50 and p95 of N pings.
Nothing is changed on any host.`,
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
			opts := deploy.PingOptions{Options: deploy.Options{Parallel: parallel, Transport: tr}, Count: count}
			results := deploy.Ping(cmd.Context(), hosts, opts)
			if asJSON {
				if err := emitEach(out, "ping", results); err != nil {
					return err
				}
				return pingExit(results)
			}
			return printPings(cmd, results)
		},
	}
	cmd.Flags().IntVarP(&count, "count", "c", 5, "round trips per host")
	cmd.Flags().IntVar(&parallel, "parallel", deploy.DefaultParallel, "how many hosts to contact at once")
	addLimitFlag(cmd, &limit)
	addShardFlag(cmd, &shard)
	addOutputFlag(cmd, &output)
	return cmd
}

// printPings prints one aligned line per host: connection set-up, then
// min, p50 and p95 of its round trips and how many there were.
func printPings(cmd *cobra.Command, results []deploy.PingResult) error {
	out := cmd.OutOrStdout()
	width := widthOf(results, func(r deploy.PingResult) string { return r.Host })
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(out, "%-*s  error: %s\n", width, r.Host, r.Error)
			continue
		}
		fmt.Fprintf(out, "%-*s  connect %9s  min %8s  p50 %8s  p95 %8s  n %d\n", width, r.Host,
			ms(r.Connect), ms(r.Percentile(0)), ms(r.Percentile(50)), ms(r.Percentile(95)), len(r.RTTs))
	}
	return pingExit(results)
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
