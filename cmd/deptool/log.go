package main

import (
	"fmt"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/internal/ui"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
)

func newLogCmd() *cobra.Command {
	var (
		limit   []string
		n       int
		output  string
		remote  string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "log [--limit HOSTS]... [-n N] [--output json] | log --remote HOST",
		Short: "Show the deploy history with every host's outcome",
		Long: `Show deploys, newest first: commit, time, operator, message, and every
host's outcome (deployed, rolled back with the failed unit or health check,
failed, unreachable, busy, stale, skipped), hosts that ended alike for the
same reason on one line (--verbose: a line per host). Offline: read from the store, so
it works in any clone of it. With --limit, only deploys that touched those
hosts.

With --remote HOST, show the host's own journal of attempts instead,
including those made from other stores.`,
		Example: `  deptool log -n 5
  deptool log --limit web2
  deptool log --remote web1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := outputFormat(output)
			if err != nil {
				return err
			}
			if remote != "" {
				return runRemoteLog(cmd, remote, n, asJSON)
			}
			s, err := store.Open(storePath())
			if err != nil {
				return err
			}
			fetchRemote(cmd, s)
			entries, err := logEntries(cmd, s, limit, n)
			if err != nil {
				return err
			}
			if err := deploy.MarkUnverified(s, entries); err != nil {
				return err
			}
			return ui.NewPrinter(cmd.OutOrStdout(), asJSON, false, verbose).Log(entries)
		},
	}
	addLimitFlag(cmd, &limit)
	cmd.Flags().IntVarP(&n, "number", "n", 0, "show at most N deploys (default: all)")
	cmd.Flags().StringVar(&remote, "remote", "", "show this host's own journal instead")
	addOutputFlag(cmd, &output)
	addVerboseFlag(cmd, &verbose)
	return cmd
}

func runRemoteLog(cmd *cobra.Command, host string, n int, asJSON bool) error {
	if msg := store.CheckHostName(host); msg != "" {
		return fmt.Errorf("--remote %q: %s", host, msg)
	}
	entries, warnings, err := deploy.RemoteLog(cmd.Context(), host, n, connectOptions(0, transport.Options{}))
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: host %s: %s\n", host, w)
	}
	return ui.NewPrinter(cmd.OutOrStdout(), asJSON, false, false).Journal(entries)
}
