package main

import (
	"github.com/deptool/deptool/diff"
	"github.com/spf13/cobra"
)

func newStatusCmd() *cobra.Command {
	var (
		limit  []string
		output string
	)
	cmd := &cobra.Command{
		Use:   "status [--limit HOSTS]... [<dir>]",
		Short: "Show each host's last deploy and its undeployed changes",
		Long: `Show one line per host: when it was last deployed and which commit, or
"new host" if it never was; and "undeployed changes: app1, app2" where the
config tree differs from what the host last received. Offline.`,
		Example: `  deptool status
  deptool status --limit db1`,
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
			syncRemote(cmd, c.store, false)
			if len(limit) > 0 {
				if limit, err = c.selectHosts(limit); err != nil {
					return err
				}
			}
			statuses, err := diff.Status(c.store, c.snap.Tree, limit)
			if err != nil {
				return err
			}
			if asJSON {
				return emitEach(cmd.OutOrStdout(), "status", statuses)
			}
			out := cmd.OutOrStdout()
			return diff.RenderStatus(out, statuses, useColor(out))
		},
	}
	addLimitFlag(cmd, &limit)
	addOutputFlag(cmd, &output)
	return cmd
}
