package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
)

// logEntry is one deploy as 'deptool log' shows it.
type logEntry struct {
	Commit   store.ID            `json:"-"`
	ID       string              `json:"commit"`
	Time     time.Time           `json:"time"`
	Operator string              `json:"operator"`
	Message  string              `json:"message"`
	Hosts    []deploy.HostResult `json:"hosts"`
	Recorded bool                `json:"recorded"` // false: the deploy never finished recording outcomes
}

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
			selected, err := logSelection(cmd, limit)
			if err != nil {
				return err
			}
			entries, err := readLog(s, selected, n)
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

// readLog reads the history, newest first, at most n deploys (0: all),
// keeping only the hosts selected (nil: all) and deploys with any.
func readLog(s *store.Store, selected func(host string) bool, n int) ([]logEntry, error) {
	history, err := s.History(0)
	if err != nil {
		return nil, err
	}
	var out []logEntry
	for _, c := range history {
		if n > 0 && len(out) == n {
			break
		}
		e := logEntry{Commit: c.ID, ID: c.ID.String(), Time: c.Time, Operator: c.Operator, Message: strings.TrimSpace(c.Message)}
		note, ok, err := s.Outcomes(c.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			var res deploy.Result
			if err := json.Unmarshal(note, &res); err != nil {
				return nil, fmt.Errorf("commit %s: outcomes note: %w", c.ID.String()[:12], err)
			}
			e.Recorded, e.Hosts = true, res.Hosts
		}
		if selected != nil {
			e.Hosts = slices.DeleteFunc(e.Hosts, func(h deploy.HostResult) bool { return !selected(h.Host) })
			if len(e.Hosts) == 0 {
				continue
			}
		}
		slices.SortFunc(e.Hosts, func(a, b deploy.HostResult) int { return strings.Compare(a.Host, b.Host) })
		out = append(out, e)
	}
	return out, nil
}

func renderLog(w io.Writer, entries []logEntry) {
	for i, e := range entries {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "commit %s  %s  %s\n", e.ID[:12], e.Time.Format("2006-01-02 15:04:05 -0700"), e.Operator)
		for _, line := range strings.Split(e.Message, "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
		if !e.Recorded {
			fmt.Fprintln(w, "    (no outcomes recorded: the deploy was interrupted before it finished)")
		}
		width := widthOf(e.Hosts, hostOf)
		for _, h := range e.Hosts {
			fmt.Fprintf(w, "    %-*s  %s%s\n", width, h.Host, h.Outcome, outcomeDetail(h))
		}
	}
}

// outcomeDetail names the failed units and checks, or the error, behind an
// outcome.
func outcomeDetail(h deploy.HostResult) string {
	var failed []string
	for _, u := range h.Units {
		if u.Failed && !u.AfterRollback {
			failed = append(failed, u.Unit+": "+u.Reason)
		}
	}
	failed = append(failed, failedChecks(h.Checks)...)
	if len(failed) > 0 {
		return ": " + strings.Join(failed, "; ")
	}
	if h.Error != "" {
		return ": " + h.Error
	}
	return ""
}

func runRemoteLog(cmd *cobra.Command, host string, n int, asJSON bool) error {
	entries, err := deploy.RemoteLog(cmd.Context(), host, n, deploy.Options{})
	if err != nil {
		return err
	}
	if asJSON {
		return emitEach(cmd.OutOrStdout(), "journal", entries)
	}
	for _, e := range entries {
		fmt.Fprintf(cmd.OutOrStdout(), "%s  %-15s  %s  deploy %s  %s\n", e.Time.Format("2006-01-02 15:04:05 -0700"), e.Outcome, e.Operator, short(e.Deploy.String()), e.Error)
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
