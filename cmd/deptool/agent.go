package main

import (
	"github.com/deptool/deptool/deploy/agent"
	"github.com/spf13/cobra"
)

// newAgentCmd is the host side: deploy starts it over SSH and speaks the
// agent protocol on its stdin and stdout. Hidden: operators never run it.
func newAgentCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "agent",
		Short:  "Run as the agent on a host (started by deptool over SSH)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return agent.Main(cmd.Context())
		},
	}
}
