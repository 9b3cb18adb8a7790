package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "deptool",
		Short: "Deploy a config tree to a fleet of hosts, with per-host rollback",
		Long: `deptool deploys a config tree (cluster/host/app/files) to hosts over SSH.

It commits the tree to a forward-only store (a bare Git repository, .deptool
or $DEPTOOL_STORE), plans offline what changes on every host, and applies the
plan in parallel, rolling back only the hosts where a unit fails.

` + exitCodesHelp,
		Example: `  deptool init prod
  deptool diff
  deptool deploy --plan-only
  deptool deploy`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(
		newInitCmd(),
		newCloneCmd(),
		newDiffCmd(),
		newStatusCmd(),
		newDeployCmd(),
		newPingCmd(),
		newCheckCmd(),
		newSyncCmd(),
		newLogCmd(),
		newRollbackCmd(),
		newRepairCmd(),
		newPinCmd(),
		newUnpinCmd(),
		newSecretCmd(),
		newAgentCmd(),
		newGenDocsCmd(),
	)
	return root
}
