package main

import (
	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/ui"
	"github.com/spf13/cobra"
)

func newStatusCmd() *cobra.Command {
	var (
		limit   []string
		shard   string
		output  string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "status [--limit HOSTS]... [<dir>]",
		Short: "Show each host's last deploy and its undeployed changes",
		Long: `Show one line per host (hosts that say the same thing share a line; --verbose
lists each): when it was last deployed and which commit, or
"new host" if it never was; and "undeployed changes: app1, app2" where the
config tree differs from what the host last received, and the source
commit the host's deploy was generated from, when recorded; whether it is
pinned; and, under it, its last attempt when that did not deploy (rolled
back, failed...) and why. With a remote, it fetches first and ends with one
line saying whether the store is in step with the remote, or how many
commits on main and host refs or pins differ (as of the last exchange when
the remote is not reached). Offline otherwise.`,
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
			url, reached := fetchRemote(cmd, c.store)
			if len(limit) > 0 || shard != "" {
				if limit, err = c.selectShard(limit, shard); err != nil {
					return err
				}
			}
			var statuses []diff.HostStatus
			// An empty selection is every host to Status: a shard with
			// no host is none.
			if len(limit) > 0 || shard == "" {
				if statuses, err = deploy.Status(c.store, c.snap.Tree, limit); err != nil {
					return err
				}
			}
			var remote *ui.RemoteStatus
			if url != "" {
				st, err := c.store.CompareRemote()
				if err != nil {
					return err
				}
				remote = &ui.RemoteStatus{URL: url, Reached: reached, RemoteState: st}
			}
			out := cmd.OutOrStdout()
			return ui.NewPrinter(out, asJSON, useColor(out), verbose).Status(statuses, remote)
		},
	}
	addLimitFlag(cmd, &limit)
	addShardFlag(cmd, &shard)
	addOutputFlag(cmd, &output)
	addVerboseFlag(cmd, &verbose)
	return cmd
}
