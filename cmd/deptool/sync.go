package main

import (
	"fmt"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/ui"
	"github.com/spf13/cobra"
)

func newSyncCmd() *cobra.Command {
	var (
		changed  bool
		shard    string
		limit    []string
		output   string
		parallel int
		verbose  bool
	)
	cmd := &cobra.Command{
		Use:   "sync [--changed] [--limit HOSTS]... [<dir>]",
		Short: "Fetch each host's deployed state into the store",
		Long: `Connect to every host in the config tree, fetch the commit it currently
runs with its objects, and point the host's ref in the store at it. Use it
after hosts were deployed from another store, or to start from a fresh clone.
Nothing is changed on any host. Hosts alike share a line (--verbose: one
per host), and a count closes the output.

Exit status: 0 when every host was synced; 3 when a host could not be.`,
		Example: `  deptool sync
  deptool sync --changed --limit web1,web2`,
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
			tx, err := deploy.Begin(cmd.Context(), c.store, commandLine(), team(cmd))
			if err != nil {
				return err
			}
			defer tx.End()
			hosts, err := c.selectShard(limit, shard)
			if err != nil {
				return err
			}
			tr, err := transportOptions(c.store, false)
			if err != nil {
				return err
			}
			results := tx.Sync(cmd.Context(), hosts, connectOptions(parallel, tr))
			if err := ui.NewPrinter(cmd.OutOrStdout(), asJSON, false, verbose).Syncs(results, changed); err != nil || asJSON {
				return err
			}
			return syncExit(results)
		},
	}
	cmd.Flags().BoolVar(&changed, "changed", false, "only list hosts whose ref moved")
	cmd.Flags().IntVar(&parallel, "parallel", deploy.DefaultParallel, "how many hosts to contact at once")
	addLimitFlag(cmd, &limit)
	addShardFlag(cmd, &shard)
	addOutputFlag(cmd, &output)
	addVerboseFlag(cmd, &verbose)
	return cmd
}

// syncExit is sync's exit status: a host that could not be synced fails
// the command, as its text says.
func syncExit(results []deploy.SyncResult) error {
	failed := 0
	for _, r := range results {
		if r.Error != "" {
			failed++
		}
	}
	if failed > 0 {
		return &exitError{code: exitHostFailed, err: fmt.Errorf("%d of %d hosts could not be synced", failed, len(results))}
	}
	return nil
}
