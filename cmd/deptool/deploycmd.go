package main

import (
	"errors"

	"github.com/deptool/deptool/diff"
	"github.com/spf13/cobra"
)

type deployFlags struct {
	yes        bool
	planOnly   bool
	noRollback bool
	limit      []string
	output     string
}

func newDeployCmd() *cobra.Command {
	var f deployFlags
	cmd := &cobra.Command{
		Use:   "deploy [--yes] [--plan-only] [--limit HOSTS]... [<dir>]",
		Short: "Plan, confirm and apply the config tree to the hosts",
		Long: `Plan what changes on every host, show the plan, ask for confirmation
([y/N/d]: d shows the full diff), then apply it to all affected hosts in
parallel and roll back the hosts where it fails.

With --plan-only, print the plan and stop: nothing is committed and no host
is contacted.`,
		Example: `  deptool deploy --plan-only
  deptool deploy --limit web1
  deptool deploy --plan-only --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDeploy(cmd, args, f)
		},
	}
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "apply without asking for confirmation")
	cmd.Flags().BoolVar(&f.yes, "no-confirm", false, "same as --yes")
	cmd.Flags().BoolVar(&f.planOnly, "plan-only", false, "print the plan and exit without contacting any host")
	cmd.Flags().BoolVar(&f.noRollback, "no-rollback", false, "do not roll back hosts where the deploy fails")
	addLimitFlag(cmd, &f.limit)
	addOutputFlag(cmd, &f.output)
	return cmd
}

func runDeploy(cmd *cobra.Command, args []string, f deployFlags) error {
	asJSON, err := outputFormat(f.output)
	if err != nil {
		return err
	}
	c, err := openCluster(cmd, args)
	if err != nil {
		return err
	}
	plan, err := diff.MakePlan(c.store, c.snap.Tree, diff.PlanOptions{Limit: f.limit, NoRollback: f.noRollback})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if asJSON {
		if err := writeJSON(out, plan); err != nil {
			return err
		}
	} else if err := diff.RenderPlan(out, plan, useColor(out)); err != nil {
		return err
	}
	if f.planOnly {
		return nil
	}
	return errors.New("deploy cannot apply plans yet: this build only plans; use --plan-only")
}
