package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
)

type deployFlags struct {
	yes            bool
	planOnly       bool
	noRollback     bool
	limit          []string
	output         string
	parallel       int
	message        string
	settle         time.Duration
	canary         []string
	batch          string
	confirmTimeout time.Duration
	unitTimeout    time.Duration
}

func newDeployCmd() *cobra.Command {
	var f deployFlags
	cmd := &cobra.Command{
		Use:   "deploy [--yes] [--plan-only] [--limit HOSTS]... [--canary HOSTS]... [--batch N|N%] [<dir>]",
		Short: "Plan, confirm and apply the config tree to the hosts",
		Long: `Plan what changes on every host, show the plan, ask for confirmation
([y/N/d]: d shows the full diff), then commit the tree to the store and apply
it to all affected hosts in parallel, over one SSH connection each.

Hosts are reached through ~/.ssh/config, or the file in $DEPTOOL_SSH_CONFIG.
A host's ref in the store moves only when that host succeeded, so hosts that
failed keep showing their changes in 'deptool diff'.

Each host checks its own work before it counts as deployed: the restarted
units must stay up for --settle, the health checks in the changed apps'
manifests must pass, and a new SSH connection from this deptool must reach
it again within --confirm-timeout. A host where any of these fails rolls
itself back to what it ran before (unless --no-rollback).

--canary deploys the named hosts first and goes on to the rest only when
every canary deployed; --batch deploys the (other) hosts in batches and stops
after the first batch in which a host did not deploy. Hosts never reached are
reported skipped and stay pending. The plan shows the stages.

With --plan-only, print the plan and stop: nothing is committed and no host
is contacted. Without a terminal, --yes is required.

` + exitCodesHelp,
		Example: `  deptool deploy --plan-only
  deptool deploy --limit web1
  deptool deploy --canary web1 --batch 25%
  deptool deploy --yes -m "raise worker count"
  deptool deploy --plan-only --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDeploy(cmd, args, f)
		},
	}
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "apply without asking for confirmation")
	cmd.Flags().BoolVar(&f.yes, "no-confirm", false, "same as --yes")
	cmd.Flags().BoolVar(&f.planOnly, "plan-only", false, "print the plan and exit without contacting any host")
	cmd.Flags().BoolVar(&f.noRollback, "no-rollback", false, "do not roll back hosts where the deploy fails (and do not wait for confirmation)")
	cmd.Flags().StringVarP(&f.message, "message", "m", "", "commit message for this deploy (default: names the hosts)")
	addRolloutFlags(cmd, &f)
	addLimitFlag(cmd, &f.limit)
	addOutputFlag(cmd, &f.output)
	return cmd
}

// addRolloutFlags adds the flags deploy and rollback share: how hosts are
// reached and how each judges its apply.
func addRolloutFlags(cmd *cobra.Command, f *deployFlags) {
	cmd.Flags().IntVar(&f.parallel, "parallel", deploy.DefaultParallel, "how many hosts to deploy to at once")
	cmd.Flags().DurationVar(&f.settle, "settle", deploy.DefaultSettle, "how long to watch restarted units for failures and restarts before judging them (0s: check once)")
	cmd.Flags().StringSliceVar(&f.canary, "canary", nil, "deploy these hosts first; go on only if all of them deploy (repeat or separate with commas)")
	cmd.Flags().StringVar(&f.batch, "batch", "", "deploy the other hosts N at a time, or N% of them at a time; stop after a batch with a failure")
	cmd.Flags().DurationVar(&f.confirmTimeout, "confirm-timeout", deploy.DefaultConfirmTimeout, "how long a host waits for a new SSH connection to confirm it is reachable before it rolls back by itself (0s: no confirmation)")
	cmd.Flags().DurationVar(&f.unitTimeout, "unit-timeout", deploy.DefaultUnitTimeout, "how long a host waits for one unit's start, stop or restart before it counts the unit failed, kills its processes and rolls back (above systemd's own 90s default, to catch units that set infinity)")
}

func runDeploy(cmd *cobra.Command, args []string, f deployFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	c, err := openCluster(cmd, args)
	if err != nil {
		return err
	}
	return deployTree(cmd, c, c.snap.Tree, f, f.message)
}

func (f deployFlags) check() error {
	if _, err := outputFormat(f.output); err != nil {
		return err
	}
	if f.settle < 0 {
		return fmt.Errorf("--settle %s: want 0s or more", f.settle)
	}
	if f.parallel < 1 {
		return fmt.Errorf("--parallel %d: want at least 1", f.parallel)
	}
	if f.confirmTimeout < 0 {
		return fmt.Errorf("--confirm-timeout %s: want 0s or more", f.confirmTimeout)
	}
	if f.unitTimeout <= 0 {
		return fmt.Errorf("--unit-timeout %s: want more than 0s", f.unitTimeout)
	}
	if f.batch != "" {
		if _, err := diff.ParseBatch(f.batch); err != nil {
			return fmt.Errorf("--%w", err)
		}
	}
	return nil
}

// planOptions are the flags' say in the plan.
func (f deployFlags) planOptions() diff.PlanOptions {
	opts := diff.PlanOptions{Limit: f.limit, NoRollback: f.noRollback, Canary: f.canary}
	if f.batch != "" {
		opts.Batch, _ = diff.ParseBatch(f.batch) // checked by check
	}
	return opts
}

// deployTree is the one deploy path, for deploy and rollback alike: plan
// tree against the hosts, show the plan, confirm, then hand the deploy
// transaction to package deploy and print its result.
func deployTree(cmd *cobra.Command, c *cluster, tree store.ID, f deployFlags, message string) error {
	asJSON, _ := outputFormat(f.output)
	plan, err := diff.MakePlan(c.store, tree, f.planOptions())
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	var events *eventStream
	if asJSON {
		events = newEventStream(out)
		err = events.emit("plan", plan)
	} else {
		err = diff.RenderPlan(out, plan, useColor(out))
	}
	if err != nil || f.planOnly || plan.Empty() {
		return err
	}
	if !f.yes {
		if err := confirm(cmd, c, plan); err != nil {
			return err
		}
	}
	opts := deploy.Options{
		Parallel:       f.parallel,
		Settle:         f.settle,
		ConfirmTimeout: f.confirmTimeout,
		UnitTimeout:    f.unitTimeout,
		Reporter:       progressFor(cmd, plan),
	}
	if events != nil {
		opts.Reporter = events
	}
	res, err := deploy.Deploy(cmd.Context(), c.store, plan, message, opts)
	if err != nil {
		return err
	}
	code, why := res.Exit()
	if events != nil {
		if err := events.summary(res, code); err != nil {
			return err
		}
	} else {
		printSummary(out, res)
	}
	if code == deploy.ExitOK {
		return nil
	}
	return &exitError{code: code, err: why}
}

var errNotConfirmed = errors.New("deploy cancelled: nothing was changed")

// confirm asks [y/N/d] until it gets an answer; d shows the diff first.
func confirm(cmd *cobra.Command, c *cluster, plan *diff.Plan) error {
	if !isTerminal(cmd.InOrStdin()) {
		return errors.New("refusing to deploy without confirmation: standard input is not a terminal; pass --yes to deploy anyway")
	}
	in := bufio.NewReader(cmd.InOrStdin())
	hosts := "hosts"
	if len(plan.Hosts) == 1 {
		hosts = "host"
	}
	for {
		fmt.Fprintf(cmd.OutOrStdout(), "Apply to %d %s in cluster '%s'? [y/N/d] ", len(plan.Hosts), hosts, c.Name())
		answer, err := in.ReadString('\n')
		if err != nil && answer == "" {
			return errNotConfirmed
		}
		switch strings.ToLower(strings.TrimSpace(answer)) {
		case "y", "yes":
			return nil
		case "d", "diff":
			if err := withPager(cmd, func(w io.Writer, color bool) error {
				return diff.RenderDiff(w, c.store, plan, color)
			}); err != nil {
				return err
			}
		default:
			return errNotConfirmed
		}
	}
}

func progressFor(cmd *cobra.Command, plan *diff.Plan) deploy.Reporter {
	hosts := make([]string, len(plan.Hosts))
	for i, h := range plan.Hosts {
		hosts[i] = h.Host
	}
	errw := cmd.ErrOrStderr()
	if isTerminal(errw) {
		return newLiveProgress(errw, hosts)
	}
	return &plainProgress{w: errw, width: hostWidth(hosts)}
}
