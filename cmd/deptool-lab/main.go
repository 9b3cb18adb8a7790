// Command deptool-lab boots and stops lab hosts: real systemd machines on
// this machine, for deptool's end-to-end tests, the demo and benchmarks.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/deptool/deptool/internal/lab"
)

// exitErr carries an exit status to main without printing anything more.
type exitErr struct{ code int }

func (e exitErr) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	var ee exitErr
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, message(err))
		os.Exit(1)
	}
}

// message prefixes errors that do not already say where they come from.
func message(err error) string {
	if msg := err.Error(); strings.HasPrefix(msg, "lab: ") {
		return msg
	}
	return "deptool-lab: " + err.Error()
}

// usage rejects a command line that does not fit the command's use line.
func usage(ok func(args []string) bool) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if !ok(args) {
			return fmt.Errorf("usage: deptool-lab %s (see --help)", cmd.Use)
		}
		return nil
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "deptool-lab",
		Short: "Boot and stop lab hosts: systemd machines in namespaces on this machine",
		Long: `deptool-lab boots lab hosts: this machine's own root under a throwaway
overlay, booted by systemd-nspawn with systemd as PID 1, each in its own
network namespace at 198.18.I.2 with sshd listening. Everything it creates is
recorded in a state directory, so 'down' removes it all, even after a crash.

Needs root and the packages 'just lab-deps' installs.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newUp(), newDown(), newExec())
	for _, c := range root.Commands() {
		c.DisableFlagsInUseLine = true
	}
	return root
}

func newUp() *cobra.Command {
	var state string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "up --state DIR NAME...",
		Short: "Boot hosts and wait until each runs with no failed unit",
		Long: `Boot the named hosts in parallel and return once each one's systemd reports
'running' with no failed unit. Writes DIR/ssh_config (and known_hosts and the
lab's client key), so 'ssh -F DIR/ssh_config NAME' works. A host that does not
come up tears down every host this command started.`,
		Example: `  deptool-lab up --state .lab web1 web2 db1
  ssh -F .lab/ssh_config web1 systemctl status
  DEPTOOL_SSH_CONFIG=.lab/ssh_config deptool ping`,
		Args: usage(func(a []string) bool { return len(a) > 0 }),
		RunE: func(cmd *cobra.Command, names []string) error {
			start := time.Now()
			_, err := lab.Up(cmd.Context(), lab.Options{StateDir: state, BootTimeout: timeout, Progress: cmd.ErrOrStderr()}, names...)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "lab: %d hosts up in %.1fs; ssh -F %s/ssh_config NAME\n", len(names), time.Since(start).Seconds(), state)
			return nil
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().DurationVar(&timeout, "timeout", lab.DefaultBootTimeout, "how long each host may take to boot")
	return cmd
}

func newDown() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "down --state DIR",
		Short: "Stop every host of a lab and remove all it made",
		Long: `Stop every host recorded in DIR and remove everything 'up' created: processes,
mounts, network namespaces, veths, cgroups and the files in DIR. Safe to run
twice, on a lab left by a crashed run, or on a directory that does not exist.`,
		Example: `  deptool-lab down --state .lab`,
		Args:    usage(func(a []string) bool { return len(a) == 0 }),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Teardown must finish even if the user presses ^C again.
			ctx := context.WithoutCancel(cmd.Context())
			return lab.Down(ctx, state)
		},
	}
	stateFlag(cmd, &state)
	return cmd
}

func newExec() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "exec --state DIR NAME -- CMD...",
		Short: "Run a command on a lab host, passing its exit status through",
		Long: `Run CMD on host NAME as root over SSH. The arguments reach the host as the
exact argv given (each is quoted for the remote shell); for a pipeline, run
'sh -c'. Exits with the command's exit status, or 255 if it could not run.`,
		Example: `  deptool-lab exec --state .lab web1 -- systemctl is-system-running
  deptool-lab exec --state .lab db1 -- sh -c 'journalctl -b | tail'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || cmd.ArgsLenAtDash() != 1 {
				return execFailed(cmd, fmt.Errorf("usage: deptool-lab %s (see --help)", cmd.Use))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := lab.Open(state)
			if err != nil {
				return execFailed(cmd, err)
			}
			code, err := l.Run(cmd.Context(), args[0], args[1:], cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return execFailed(cmd, err)
			}
			if code != 0 {
				return exitErr{code}
			}
			return nil
		},
	}
	stateFlag(cmd, &state)
	return cmd
}

// execFailed reports a command that never ran with 255, as ssh does, so it
// is not mistaken for the remote command's own status.
func execFailed(cmd *cobra.Command, err error) error {
	fmt.Fprintln(cmd.ErrOrStderr(), message(err))
	return exitErr{255}
}

func stateFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "state", "", "the lab's state directory (required)")
	cmd.MarkFlagRequired("state")
}
