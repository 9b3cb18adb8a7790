package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff"
	"github.com/spf13/cobra"
)

func newPingCmd() *cobra.Command {
	var (
		count    int
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
			hosts, err := diff.HostNames(c.store, c.snap.Tree, limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var mu sync.Mutex
			opts := deploy.PingOptions{Options: deploy.Options{Parallel: parallel}, Count: count}
			if !asJSON {
				opts.OnReply = func(host string, seq int, rtt time.Duration) {
					mu.Lock()
					defer mu.Unlock()
					fmt.Fprintf(out, "%s: seq=%d time=%s\n", host, seq, rtt.Round(time.Microsecond))
				}
			}
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
	addOutputFlag(cmd, &output)
	return cmd
}

func printPings(cmd *cobra.Command, results []deploy.PingResult) error {
	out := cmd.OutOrStdout()
	width := widthOf(results, func(r deploy.PingResult) string { return r.Host })
	fmt.Fprintln(out)
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(out, "%-*s  error: %s\n", width, r.Host, r.Error)
			continue
		}
		us := func(d time.Duration) string { return d.Round(time.Microsecond).String() }
		fmt.Fprintf(out, "%-*s  connect %s  min %s  p50 %s  p95 %s\n", width, r.Host,
			r.Connect.Round(time.Millisecond), us(r.Percentile(0)), us(r.Percentile(50)), us(r.Percentile(95)))
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
