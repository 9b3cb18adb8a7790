package main

import (
	"io"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/ui"
	"github.com/spf13/cobra"
)

func newDiffCmd() *cobra.Command {
	var (
		stat   bool
		limit  []string
		shard  string
		output string
	)
	cmd := &cobra.Command{
		Use:   "diff [--stat] [--limit HOSTS]... [<dir>]",
		Short: "Show what deploy would change, as a unified diff",
		Long: `Show the full unified diff between the config tree and what each host last
received successfully, as recorded in the store. Offline: no host is
contacted. On a terminal the diff goes through $PAGER (default less, with
LESS=FRX unless LESS is set, as Git does); q quits it, PAGER=cat does
without (see docs/cli.md).

Hosts that were rolled back keep showing their changes here until a deploy
brings them forward.`,
		Example: `  deptool diff
  deptool diff --stat --limit web1,web2
  deptool diff --output json | jq 'select(.event == "plan") | .hosts[].host'`,
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
			sh, err := parseShard(shard)
			if err != nil {
				return err
			}
			fetchRemote(cmd, c.store)
			popts := diff.PlanOptions{Limit: limit, Groups: c.groups, Shard: sh}
			plan, err := deploy.Plan(c.store, c.snap.Tree, popts)
			if err != nil {
				return err
			}
			if asJSON {
				return ui.NewPrinter(cmd.OutOrStdout(), true, false, false).Plan(plan)
			}
			return withPager(cmd, func(w io.Writer, color bool) error {
				if stat {
					return ui.PrintStat(w, c.store, plan, color)
				}
				return ui.PrintDiff(w, c.store, plan, color)
			})
		},
	}
	cmd.Flags().BoolVar(&stat, "stat", false, "show changed files and line counts instead of the diff")
	addLimitFlag(cmd, &limit)
	addShardFlag(cmd, &shard)
	addOutputFlag(cmd, &output)
	return cmd
}
