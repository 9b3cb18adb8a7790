package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
)

func newLogCmd() *cobra.Command {
	var (
		limit  []string
		n      int
		output string
		remote string
	)
	cmd := &cobra.Command{
		Use:   "log [--limit HOSTS]... [-n N] [--output json] | log --remote HOST",
		Short: "Show the deploy history with every host's outcome",
		Long: `Show deploys, newest first: commit, time, operator, message, and every
host's outcome (deployed, rolled back with the failed unit or health check,
failed, unreachable, busy, stale, skipped). Offline: read from the store, so
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
			if asJSON {
				return emitEach(cmd.OutOrStdout(), "deploy", entries)
			}
			renderLog(cmd.OutOrStdout(), entries)
			return nil
		},
	}
	addLimitFlag(cmd, &limit)
	cmd.Flags().IntVarP(&n, "number", "n", 0, "show at most N deploys (default: all)")
	cmd.Flags().StringVar(&remote, "remote", "", "show this host's own journal instead")
	addOutputFlag(cmd, &output)
	return cmd
}

func renderLog(w io.Writer, entries []deploy.Entry) {
	for i, e := range entries {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "commit %s  %s  %s\n", e.Commit.Short(), e.Time.Format("2006-01-02 15:04:05 -0700"), e.Operator)
		for _, line := range strings.Split(e.Message, "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
		if !e.Recorded {
			fmt.Fprintln(w, "    (no outcomes recorded: the deploy was interrupted before it finished)")
		}
		width := widthOf(e.Hosts, hostOf)
		for _, h := range e.Hosts {
			line := fmt.Sprintf("%-*s  %s%s", width, h.Host, h.Outcome, outcomeDetail(h))
			// A validation's output spans lines: keep them under the host.
			fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(line, "\n", "\n    "+strings.Repeat(" ", width+2)))
		}
	}
}

// outcomeDetail is ": why" behind an outcome, or "".
func outcomeDetail(h deploy.HostResult) string {
	if why := h.Why(); why != "" {
		return ": " + why
	}
	return ""
}

func runRemoteLog(cmd *cobra.Command, host string, n int, asJSON bool) error {
	if msg := store.CheckHostName(host); msg != "" {
		return fmt.Errorf("--remote %q: %s", host, msg)
	}
	entries, warnings, err := deploy.RemoteLog(cmd.Context(), host, n, deploy.Options{})
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: host %s: %s\n", host, w)
	}
	if asJSON {
		return emitEach(cmd.OutOrStdout(), "journal", entries)
	}
	for _, e := range entries {
		fmt.Fprintf(cmd.OutOrStdout(), "%s  %-15s  %s  deploy %s  %s\n", e.Time.Format("2006-01-02 15:04:05 -0700"), e.Outcome, e.Operator, e.Deploy.Short(), e.Error)
	}
	return nil
}
