package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
)

// Shell completion (deptool completion bash|zsh|fish|powershell, cobra's)
// completes what an operator types most: host names and @groups for
// --limit and --canary and for commands taking a HOST, apps under a host
// for secret paths, and deploy ids for rollback --to and pin. It reads the
// store and the cluster directory only, never a host, and completes
// nothing rather than fail.

// completionCluster is the recorded cluster directory and its hosts.
func completionCluster() (dir string, hosts []string) {
	s, err := store.Open(storePath())
	if err != nil {
		return "", nil
	}
	dir, ok, err := s.DefaultCluster()
	if err != nil || !ok {
		return "", nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			hosts = append(hosts, e.Name())
		}
	}
	return dir, hosts
}

// completeSelection completes the last element of a comma-separated
// selection: a host, or @group.
func completeSelection(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	dir, hosts := completionCluster()
	head, last := "", toComplete
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		head, last = toComplete[:i+1], toComplete[i+1:]
	}
	names := slices.Clone(hosts)
	if groups, err := deploy.LoadGroups(dir, hosts); err == nil {
		for g := range groups {
			names = append(names, "@"+g)
		}
	}
	slices.Sort(names)
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, last) {
			out = append(out, head+n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func completeHosts(toComplete string) []cobra.Completion {
	_, hosts := completionCluster()
	var out []cobra.Completion
	for _, h := range hosts {
		if strings.HasPrefix(h, toComplete) {
			out = append(out, h)
		}
	}
	return out
}

// completeHostArg completes a HOST first argument, then nothing (or files
// when more may follow).
func completeHostArg(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return completeHosts(toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveDefault
}

// completeSecretPath completes HOST, then the host's apps as paths in
// the cluster directory (prod/web1/app/), then files in them.
func completeSecretPath(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return completeHosts(toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	dir, _ := completionCluster()
	if len(args) > 1 || dir == "" {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	hostDir := filepath.Join(dir, args[0])
	entries, err := os.ReadDir(hostDir)
	if err != nil {
		return nil, cobra.ShellCompDirectiveDefault
	}
	var out []cobra.Completion
	for _, e := range entries {
		p := filepath.Join(hostDir, e.Name()) + "/"
		if e.IsDir() && strings.HasPrefix(p, toComplete) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, cobra.ShellCompDirectiveDefault // inside an app: its files
	}
	return out, cobra.ShellCompDirectiveNoSpace
}

// completeDeploys completes deploy ids, newest first, with their subjects.
func completeDeploys(toComplete string) []cobra.Completion {
	s, err := store.Open(storePath())
	if err != nil {
		return nil
	}
	entries, err := deploy.History(s, nil, 50)
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, e := range entries {
		if id := e.Commit.Short(); strings.HasPrefix(id, toComplete) {
			out = append(out, cobra.CompletionWithDesc(id, e.Time.Format("2006-01-02 15:04")+" "+e.Subject()))
		}
	}
	return out
}

// registerCompletions wires the completions into the command tree, by
// flag and command name, so that the commands stay as they are.
func registerCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, name := range []string{"limit", "canary"} {
			if c.Flags().Lookup(name) != nil {
				c.RegisterFlagCompletionFunc(name, completeSelection)
			}
		}
		switch c.CommandPath() {
		case "deptool log":
			c.RegisterFlagCompletionFunc("remote", func(_ *cobra.Command, _ []string, tc string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return completeHosts(tc), cobra.ShellCompDirectiveNoFileComp
			})
		case "deptool rollback":
			c.RegisterFlagCompletionFunc("to", func(_ *cobra.Command, _ []string, tc string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return completeDeploys(tc), cobra.ShellCompDirectiveNoFileComp
			})
		case "deptool pin":
			c.ValidArgsFunction = func(_ *cobra.Command, args []string, tc string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) == 0 {
					return completeHosts(tc), cobra.ShellCompDirectiveNoFileComp
				}
				return completeDeploys(tc), cobra.ShellCompDirectiveNoFileComp
			}
		case "deptool unpin", "deptool secret encrypt":
			c.ValidArgsFunction = completeHostArg
		case "deptool secret edit":
			c.ValidArgsFunction = completeSecretPath
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
