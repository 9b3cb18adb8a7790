package main

import (
	"fmt"
	"github.com/deptool/deptool/deploy"

	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
)

func newPinCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pin HOST [REV]",
		Short: "Hold a host on its version: deploys leave it alone",
		Long: `Pin HOST: plans and deploys leave it out, whatever the config tree says,
until 'deptool unpin HOST'. The plan names pinned hosts and how many of their
apps differ. REV (a commit, as 'deptool log' shows them) records which version
the host is held at; by default, the one it last accepted. Pins live in the
store, so teammates see them after a pull or clone.`,
		Example: `  deptool pin web2
  deptool unpin web2`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store.Open(storePath())
			if err != nil {
				return err
			}
			host, rev := args[0], ""
			if len(args) == 2 {
				rev = args[1]
			}
			tx := deploy.BeginIfFree(cmd.Context(), s, commandLine(), team(cmd))
			defer tx.End()
			at, err := tx.Pin(host, rev)
			if err != nil {
				return err
			}
			tx.Send()
			fmt.Fprintf(cmd.OutOrStdout(), "Pinned %s at %s: deploys leave it alone until 'deptool unpin'.\n", host, at.String()[:7])
			return nil
		},
	}
}

func newUnpinCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "unpin HOST",
		Short:   "Release a pinned host: deploys include it again",
		Example: `  deptool unpin web2`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store.Open(storePath())
			if err != nil {
				return err
			}
			tx := deploy.BeginIfFree(cmd.Context(), s, commandLine(), team(cmd))
			defer tx.End()
			if err := tx.Unpin(args[0]); err != nil {
				return err
			}
			tx.Send()
			fmt.Fprintf(cmd.OutOrStdout(), "Unpinned %s: the next deploy brings it up to date.\n", args[0])
			return nil
		},
	}
}
