package main

import (
	"fmt"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/ui"
	"github.com/spf13/cobra"
)

func newCheckCmd() *cobra.Command {
	var (
		shard    string
		limit    []string
		output   string
		parallel int
		verbose  bool
	)
	cmd := &cobra.Command{
		Use:   "check [--limit HOSTS]... [--output json] [<dir>]",
		Short: "Run every app's health checks and report drift, changing nothing",
		Long: `Connect to every host in the config tree (or those of --limit) and, on each,
compare the host with the host commit it last applied, and run every app's
health checks. Reported as drift: files in the apps' checkouts that differ
from that commit (changed, missing, or added by hand), links deptool made
(manifest symlinks, unit files, sysusers and quadlet links) that were
removed or replaced, enabled units that were disabled, are not active or
that systemd restarted since they were last started (they crash),
and an apply that was cut short and not undone yet. Nothing is changed on
any host and no lock is taken; 'deptool repair' puts back what drifted.
Healthy hosts share one line, and hosts
with the same problems another (--verbose: a line per host).

Exit status: 0 when every host was checked and nothing is wrong; 3 when a
host drifted, a health check failed, or a host could not be checked.`,
		Example: `  deptool check
  deptool check --limit web1 --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputFormat(output)
			if err != nil {
				return err
			}
			c, err := openCluster(cmd, args)
			if err != nil {
				return err
			}
			hosts, err := c.selectShard(limit, shard)
			if err != nil {
				return err
			}
			tr, err := transportOptions(c.store, false)
			if err != nil {
				return err
			}
			results := deploy.CheckRecording(cmd.Context(), c.store, commandLine(), hosts, connectOptions(parallel, tr))
			if err := deploy.CompareRecords(c.store, results); err != nil {
				return err
			}
			if err := ui.NewPrinter(cmd.OutOrStdout(), asJSON, false, verbose).Check(results); err != nil {
				return err
			}
			return checkExit(results)
		},
	}
	cmd.Flags().IntVar(&parallel, "parallel", 32, "how many hosts to check at once")
	addLimitFlag(cmd, &limit)
	addShardFlag(cmd, &shard)
	addOutputFlag(cmd, &output)
	addVerboseFlag(cmd, &verbose)
	return cmd
}

func checkExit(results []deploy.CheckResult) error {
	bad := 0
	for _, r := range results {
		if !r.OK() {
			bad++
		}
	}
	if bad > 0 {
		return &exitError{code: exitHostFailed, err: fmt.Errorf("%d of %d hosts have problems", bad, len(results))}
	}
	return nil
}
