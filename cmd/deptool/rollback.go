package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/internal/ui"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
)

func newRollbackCmd() *cobra.Command {
	var (
		f  deployFlags
		to string
	)
	cmd := &cobra.Command{
		Use:   "rollback [--to REV] [--limit HOSTS]... [--yes] [<dir>]",
		Short: "Deploy an earlier version again, as a new commit",
		Long: `Deploy the config of an earlier deploy again. History only moves forward:
the old tree becomes a new commit on main with the message "rollback to <id>",
and goes through the normal deploy path (plan, confirm, lock, apply, check,
automatic rollback). Old commits are never moved or deleted.

Without --to, on a terminal, deptool lists the earlier versions deployed to
the selected hosts, newest first, each with how many hosts ended how and
the apps it changed, and offers as the default the newest earlier version
that deployed on every host it has. With --limit (names, globs or @groups, matched against the
hosts of the version gone back to), only those hosts are rolled back; the
others keep what they run.

The config tree on disk is not changed: until the source of truth is reverted
too, 'deptool diff' shows the rolled-back change as pending. Rollback restores
configuration only; it does not undo data changes or database migrations.`,
		Example: `  deptool rollback
  deptool rollback --to 5348c6e --yes
  deptool rollback --limit web2 --to main~2`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			c, err := openStoreAndDir(args)
			if err != nil {
				return err
			}
			if to == "" {
				main, ok, err := c.store.Main()
				if err != nil {
					return err
				}
				var names []string
				if ok {
					if names, err = c.selectInTree(main, f.limit); err != nil {
						return err
					}
				}
				if to, err = pickVersion(cmd, c.store, names); err != nil {
					return err
				}
			}
			target, err := deploy.RollbackTarget(c.store, to)
			if err != nil {
				return err
			}
			if f.limit, err = c.selectInTree(target, f.limit); err != nil {
				return err
			}
			rb, err := deploy.RollbackTo(c.store, target, f.limit)
			if err != nil {
				return err
			}
			f.limit = rb.Hosts
			return deployTree(cmd, c, rb.Tree, f, rb.Message)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the commit to go back to (an id from 'deptool log', main~N, or the source-of-truth commit a deploy was made from)")
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "apply without asking for confirmation")
	cmd.Flags().BoolVar(&f.planOnly, "plan-only", false, "print the plan and exit without contacting any host")
	addRolloutFlags(cmd, &f)
	addLimitFlag(cmd, &f.limit)
	addOutputFlag(cmd, &f.output)
	return cmd
}

// openStoreAndDir opens the store without reading the config tree on disk:
// a rollback must work even when the tree is broken.
func openStoreAndDir(args []string) (*cluster, error) {
	s, err := store.Open(storePath())
	if err != nil {
		return nil, err
	}
	dir, err := clusterDir(s, args)
	if err != nil {
		return nil, err
	}
	return &cluster{store: s, dir: dir}, nil
}

// pickVersion lists earlier deployed versions for the selected hosts and
// asks which one to go back to.
func pickVersion(cmd *cobra.Command, s *store.Store, limit []string) (string, error) {
	if !isTerminal(cmd.InOrStdin()) {
		return "", errors.New("no --to given and standard input is not a terminal: name the version with --to REV (see 'deptool log')")
	}
	entries, rejected, err := deploy.TrustedVersions(s, limit)
	if err != nil {
		return "", err
	}
	for _, r := range rejected {
		fmt.Fprintf(cmd.ErrOrStderr(), "Not offered: deploy %s: %s.\n", r.Commit.Short(), r.Why)
	}
	if len(entries) < 2 {
		return "", errors.New("nothing to roll back to: there is no earlier successful deploy for these hosts")
	}
	out := cmd.OutOrStdout()
	def := strconv.Itoa(deploy.DefaultRollback(entries) + 1)
	changed := make([][]string, len(entries))
	for i, e := range entries {
		changed[i], _ = deploy.ChangedApps(s, e.Commit, limit) // unknown: not said
	}
	ui.PrintVersions(out, entries, changed)
	p := promptOn(cmd.Context(), cmd.InOrStdin(), out)
	for {
		answer, err := p.ask("Roll back to which version? [" + def + "] ")
		if err != nil {
			return "", err
		}
		if answer == "" {
			answer = def
		}
		n, err := strconv.Atoi(answer)
		if err == nil && n >= 1 && n <= len(entries) {
			return entries[n-1].Commit.String(), nil
		}
		fmt.Fprintf(out, "Answer with a number from 1 to %d (Ctrl-C to cancel).\n", len(entries))
	}
}
