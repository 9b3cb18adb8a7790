package main

import (
	"errors"
	"fmt"
	"strings"

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
		newSignersCmd(),
		newSecretCmd(),
		newAgentCmd(),
		newGenDocsCmd(),
	)
	root.SetHelpCommand(newHelpCmd(root))
	refuseUnknownSubcommands(root)
	registerCompletions(root)
	return root
}

// exitUsage is the exit status of a command line deptool does not know:
// an unknown command or help topic.
const exitUsage = 2

// unknownCommand is the error for a word that names no command under
// parent, with cobra's suggestions, and for "version" the flag it meant.
func unknownCommand(parent *cobra.Command, word string) error {
	msg := fmt.Sprintf("unknown command %q for %q", word, parent.CommandPath())
	if parent.SuggestionsMinimumDistance <= 0 {
		parent.SuggestionsMinimumDistance = 2
	}
	if s := parent.SuggestionsFor(word); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	if word == "version" {
		msg += "; the version is 'deptool --version'"
	}
	return &exitError{code: exitUsage, err: errors.New(msg + " (see '" + parent.CommandPath() + " --help')")}
}

// refuseUnknownSubcommands makes every command that only groups others
// (deptool secret) refuse a word it does not know, instead of printing
// its help and exiting 0 as if that were what was asked.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasParent() || !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return unknownCommand(cmd, args[0])
	}
}

// newHelpCmd is cobra's help command, except that a topic it does not
// know is an error (exit 2) rather than a usage text and 0.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help provides help for any command in the application.\nSimply type deptool help [path to command] for full details.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := root.Find(args)
			if err != nil || cmd == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err != nil || cmd == nil {
				return unknownCommand(root, args[0])
			}
			if len(rest) > 0 {
				return unknownCommand(cmd, rest[0])
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}
