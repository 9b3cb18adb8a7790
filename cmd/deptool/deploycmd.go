package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/internal/ui"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
)

type deployFlags struct {
	yes            bool
	planOnly       bool
	noRollback     bool
	limit          []string
	shard          string
	output         string
	parallel       int
	message        string
	settle         time.Duration
	canary         []string
	batch          string
	maxFail        string
	confirmTimeout time.Duration
	unitTimeout    time.Duration
	askBecomePass  bool
	// validateTimeout bounds each of the manifests' validate commands.
	validateTimeout time.Duration
	source          string
	// verbose lists every host in the summary, with its own units.
	verbose bool
	// repair names the hosts planned as if they ran nothing (repair).
	repair []string
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
	cmd.Flags().StringVar(&f.source, "source", "", "the source-of-truth commit the tree was generated from, recorded with the deploy (default: HEAD of the Git work tree holding <dir>, -dirty with uncommitted changes)")
	addRolloutFlags(cmd, &f)
	addLimitFlag(cmd, &f.limit)
	addShardFlag(cmd, &f.shard)
	addOutputFlag(cmd, &f.output)
	return cmd
}

// addRolloutFlags adds the flags deploy and rollback share: how hosts are
// reached and how each judges its apply.
func addRolloutFlags(cmd *cobra.Command, f *deployFlags) {
	addVerboseFlag(cmd, &f.verbose)
	cmd.Flags().IntVar(&f.parallel, "parallel", deploy.DefaultParallel, "how many hosts to deploy to at once")
	cmd.Flags().DurationVar(&f.settle, "settle", deploy.DefaultSettle, "how long to watch restarted units for failures and restarts before judging them (0s: check once)")
	addCanaryFlag(cmd, &f.canary)
	cmd.Flags().StringVar(&f.batch, "batch", "", "deploy the other hosts in batches: N hosts or N% of them at a time, or a ramp of sizes (1,5,25%), the last repeating")
	cmd.Flags().StringVar(&f.maxFail, "max-fail", "", "with --batch, go on past failed hosts until more than N (or N% of the hosts deployed to) have not deployed (default 0: stop after the first batch with a failure)")
	cmd.Flags().DurationVar(&f.confirmTimeout, "confirm-timeout", deploy.DefaultConfirmTimeout, "how long a host waits for a new SSH connection to confirm it is reachable before it rolls back by itself (0s: no confirmation)")
	cmd.Flags().DurationVar(&f.unitTimeout, "unit-timeout", deploy.DefaultUnitTimeout, "how long a host waits for one unit's start, stop or restart before it counts the unit failed, kills its processes and rolls back (above systemd's own 90s default, to catch units that set infinity)")
	cmd.Flags().BoolVar(&f.askBecomePass, "ask-become-pass", false, "ask once on the terminal for the sudo password, for hosts whose sudo asks for one (see docs/ssh.md)")
	cmd.Flags().DurationVar(&f.validateTimeout, "validate-timeout", deploy.DefaultValidateTimeout, "how long each of the manifests' validate commands may run on a host before it is killed and fails")
}

func runDeploy(cmd *cobra.Command, args []string, f deployFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	c, err := openCluster(cmd, args)
	if err != nil {
		return err
	}
	if f.source == "" && !f.planOnly {
		// A plan commits nothing, so it needs no source; asking Git is a
		// `git status` over the whole tree, as long as the plan itself.
		f.source = deploy.SourceOf(cmd.Context(), c.dir)
	}
	return deployTree(cmd, c, c.snap.Tree, f, f.message)
}

func (f deployFlags) check() error {
	if _, err := outputFormat(f.output); err != nil {
		return err
	}
	if _, err := parseShard(f.shard); err != nil {
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
	if f.validateTimeout <= 0 {
		return fmt.Errorf("--validate-timeout %s: want more than 0s", f.validateTimeout)
	}
	return f.checkRollout()
}

// planOptions are the flags' say in the plan.
func (f deployFlags) planOptions() diff.PlanOptions {
	sh, _ := diff.ParseShard(f.shard) // checked by check
	opts := diff.PlanOptions{Limit: f.limit, NoRollback: f.noRollback, Canary: f.canary, Shard: sh}
	if len(f.repair) > 0 {
		opts.Repair = map[string]bool{}
		for _, h := range f.repair {
			opts.Repair[h] = true
		}
	}
	f.rolloutOptions(&opts)
	return opts
}

// hostDialer, when set, reaches hosts in place of SSH: tests run whole
// commands against simulated hosts (internal/simhost).
var hostDialer deploy.Dialer

// connectOptions is how a command reaches hosts: over SSH with tr, or
// the simulated hosts of a test.
func connectOptions(parallel int, tr transport.Options) deploy.ConnectOptions {
	return deploy.ConnectOptions{Parallel: parallel, Transport: tr, Dialer: hostDialer}
}

// deployTree is the one deploy path, for deploy, rollback and repair
// alike: plan tree against the hosts in a transaction of package deploy,
// show the plan, confirm, run the deploy and print its result.
func deployTree(cmd *cobra.Command, c *cluster, tree store.ID, f deployFlags, message string) error {
	asJSON, _ := outputFormat(f.output)
	popts := f.planOptions()
	popts.Groups = c.groups
	var tx *deploy.Transaction
	var plan *diff.Plan
	var err error
	if f.planOnly {
		fetchRemote(cmd, c.store)
		plan, err = deploy.Plan(c.store, tree, popts)
	} else {
		tx, err = deploy.Begin(cmd.Context(), c.store, commandLine(), team(cmd))
		if err != nil {
			return err
		}
		defer tx.End()
		plan, err = tx.Plan(tree, popts)
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	pr := ui.NewPrinter(out, asJSON, useColor(out), f.verbose)
	if err := pr.Plan(plan); err != nil || f.planOnly || plan.Empty() {
		return err
	}
	sign, closeKey, err := tx.SigningKey(plan.Hosts[0].Host)
	defer closeKey()
	if err != nil {
		return err
	}
	if !f.yes {
		if err := confirm(cmd, c, plan); err != nil {
			return err
		}
	}
	tr, err := transportOptions(c.store, f.askBecomePass)
	if err != nil {
		return err
	}
	opts := deploy.Options{
		ConnectOptions: connectOptions(f.parallel, tr),
		Settle:         f.settle,
		ConfirmTimeout: f.confirmTimeout,
		UnitTimeout:    f.unitTimeout,
		Source:         f.source,
		Sign:           sign,
	}
	var progress ui.Progress
	opts.ValidateTimeout = f.validateTimeout
	if events := pr.Events(); events != nil {
		opts.Reporter = events
	} else {
		progress = progressFor(cmd, plan)
		opts.Reporter = progress
	}
	rep, stop, done := deploying(cmd.Context(), opts.Reporter)
	defer done()
	opts.Reporter, opts.Stop = rep, stop
	res, err := tx.Deploy(cmd.Context(), plan, message, opts)
	if progress != nil {
		progress.Close()
	}
	if res == nil {
		return err // nothing was committed or contacted
	}
	tx.Send() // the records go to the team at once
	code, why := res.Exit()
	if err != nil {
		// Hosts were contacted: the summary still says what happened to
		// each, and the code is never "nothing changed".
		code, why = max(code, deploy.ExitHostFailed), err
	}
	// A reader gone (-o json | head) does not make the hosts' outcome a
	// success: the exit status still says how they ended.
	if err := pr.Summary(res, code); err != nil && !errors.Is(err, syscall.EPIPE) {
		return err
	}
	if code == deploy.ExitOK {
		return nil
	}
	return &exitError{code: code, err: why}
}

// transportOptions: how hosts become root (the store's deptool.become),
// and the sudo password, asked now if asked to: after the confirmation,
// before the progress display starts.
func transportOptions(s *store.Store, askBecomePass bool) (transport.Options, error) {
	become, err := s.BecomeRules()
	if err != nil {
		return transport.Options{}, err
	}
	opts := transport.Options{Become: become, Notify: notifyStderr}
	if askBecomePass {
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return opts, fmt.Errorf("--ask-become-pass needs a terminal to ask on: %w", err)
		}
		defer tty.Close()
		pw, err := transport.ReadBecomePassword(tty, tty)
		if err != nil {
			return opts, err
		}
		opts.BecomePassword = func(string) ([]byte, error) { return pw, nil }
	}
	return opts, nil
}

// notifyStderr prints what the transport says in passing (a host key
// accepted unverified or recorded): one write a line, as hosts dial at
// once.
func notifyStderr(msg string) {
	os.Stderr.WriteString(msg + "\n")
}

// confirm asks [y/N/d] until it gets an answer; d shows the diff first.
// No (the default), Ctrl-C and Ctrl-D cancel; anything else asks again.
func confirm(cmd *cobra.Command, c *cluster, plan *diff.Plan) error {
	if !isTerminal(cmd.InOrStdin()) {
		return errors.New("refusing to deploy without confirmation: standard input is not a terminal; pass --yes to deploy anyway")
	}
	// The question goes to the terminal, even when stdout does not: a
	// deploy >log would otherwise wait for an answer to a question
	// nobody sees.
	out := cmd.OutOrStdout()
	if !isTerminal(out) {
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			out = tty
		}
	}
	p := promptOn(cmd.Context(), cmd.InOrStdin(), out)
	hosts := "hosts"
	if len(plan.Hosts) == 1 {
		hosts = "host"
	}
	for {
		answer, err := p.ask(fmt.Sprintf("Apply to %d %s in cluster '%s'? [y/N/d] ", len(plan.Hosts), hosts, c.Name()))
		if err != nil {
			return err
		}
		switch strings.ToLower(answer) {
		case "y", "yes":
			return nil
		case "", "n", "no":
			return errCancelled
		case "d", "diff":
			if err := withPagerTo(cmd, out, func(w io.Writer, color bool) error {
				return ui.PrintDiff(w, c.store, plan, color)
			}); err != nil {
				return err
			}
		default:
			fmt.Fprintf(out, "Answer y to apply, n to cancel, or d to see the diff.\n")
		}
	}
}
