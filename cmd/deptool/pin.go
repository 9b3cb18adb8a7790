package main

import (
	"fmt"
	"slices"

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
			host := args[0]
			syncRemote(cmd, s, false)
			at, err := pinTarget(s, host, args[1:])
			if err != nil {
				return err
			}
			if err := s.Pin(host, at); err != nil {
				return err
			}
			syncRemote(cmd, s, false)
			fmt.Fprintf(cmd.OutOrStdout(), "Pinned %s at %s: deploys leave it alone until 'deptool unpin %s'.\n", host, at.String()[:7], host)
			return nil
		},
	}
}

func pinTarget(s *store.Store, host string, rev []string) (store.ID, error) {
	if len(rev) == 1 {
		return s.Resolve(rev[0])
	}
	id, ok, err := s.HostRef(host)
	if err != nil {
		return store.ZeroID, err
	}
	if !ok {
		known, _ := s.HostRefs()
		names := make([]string, 0, len(known))
		for h := range known {
			names = append(names, h)
		}
		slices.Sort(names)
		return store.ZeroID, fmt.Errorf("host %s was never deployed from this store, so there is nothing to pin it at (deployed hosts: %v); name a commit: deptool pin %s REV", host, names, host)
	}
	deploy, found, err := s.DeployOf(id)
	if err != nil || !found {
		return id, err
	}
	return deploy, nil
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
			syncRemote(cmd, s, false)
			if err := s.Unpin(args[0]); err != nil {
				return err
			}
			syncRemote(cmd, s, false)
			fmt.Fprintf(cmd.OutOrStdout(), "Unpinned %s: the next deploy brings it up to date.\n", args[0])
			return nil
		},
	}
}
