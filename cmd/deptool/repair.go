package main

import (
	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/ui"
	"github.com/spf13/cobra"
)

func newRepairCmd() *cobra.Command {
	var f deployFlags
	cmd := &cobra.Command{
		Use:   "repair [--limit HOSTS]... [--yes] [<dir>]",
		Short: "Put back what was changed by hand on hosts, as their recorded version has it",
		Long: `Check every host (or those of --limit) as 'deptool check' does, and deploy
to each host that drifted from the version the store records for it that
same version again, with every app planned as new: links, unit files and
manifest symlinks made again, units enabled and restarted. The drift found
is printed before the plan; then the usual prompt, checks and automatic
rollback. Hosts that run another version than the store's record, or that
could not be checked, are left alone: 'deptool deploy' or 'deptool sync'
is their remedy.

A deploy also puts back the links, enablement and running units of the
apps on a host before it changes them; repair is for hosts no deploy has
a reason to touch.`,
		Example: `  deptool repair
  deptool repair --limit web1 --yes`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			c, err := openCluster(cmd, args)
			if err != nil {
				return err
			}
			hosts, err := c.selectHosts(f.limit)
			if err != nil {
				return err
			}
			tr, err := transportOptions(c.store, f.askBecomePass)
			if err != nil {
				return err
			}
			rp, err := deploy.PlanRepair(cmd.Context(), c.store, hosts, connectOptions(f.parallel, tr))
			if err != nil {
				return err
			}
			asJSON, _ := outputFormat(f.output)
			pr := ui.NewPrinter(cmd.OutOrStdout(), asJSON, false, f.verbose)
			if err := pr.Drift(rp.Checks); err != nil {
				return err
			}
			if len(rp.Hosts) == 0 {
				return pr.NothingToRepair()
			}
			f.limit, f.repair = rp.Hosts, rp.Hosts
			return deployTree(cmd, c, rp.Tree, f, rp.Message)
		},
	}
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "apply without asking for confirmation")
	cmd.Flags().BoolVar(&f.planOnly, "plan-only", false, "check and print the plan, and change nothing")
	addRolloutFlags(cmd, &f)
	addLimitFlag(cmd, &f.limit)
	addOutputFlag(cmd, &f.output)
	return cmd
}
