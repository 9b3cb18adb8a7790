package main

import (
	"fmt"
	"os"

	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
)

func newInitCmd() *cobra.Command {
	var remote string
	cmd := &cobra.Command{
		Use:   "init [<dir>]",
		Short: "Create the store and the cluster directory",
		Long: `Create the store (.deptool, or $DEPTOOL_STORE) and the cluster directory
<dir> (default: prod), and record <dir> as the default cluster for the
other commands. Running it again on an existing store only records <dir>.

--remote URL records a team's Git remote (a path, file://, ssh://; an empty
bare repository is fine): commands then fetch from it before they plan and
push what they record (see 'deptool clone'), and <dir> is published there
as the default cluster of clones.`,
		Example: `  deptool init prod
  mkdir -p prod/web1/nginx && $EDITOR prod/web1/nginx/nginx.conf`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "prod"
			if len(args) == 1 {
				dir = args[0]
			}
			if err := runInit(cmd, storePath(), dir); err != nil || remote == "" {
				return err
			}
			s, err := store.Open(storePath())
			if err == nil {
				err = s.SetRemote(remote)
			}
			if err != nil {
				return err
			}
			// Clones take the default cluster from the remote, so 'clone'
			// then 'deploy' target the same directory as here.
			if _, err := s.PublishDefaultCluster(); err != nil {
				return err
			}
			syncRemote(cmd, s, false)
			fmt.Fprintf(cmd.OutOrStdout(), "Recorded %s as the store's remote.\n", remote)
			return nil
		},
	}
	cmd.Flags().StringVar(&remote, "remote", "", "record this Git URL as the store's remote, shared with a team")
	return cmd
}

func runInit(cmd *cobra.Command, path, dir string) error {
	s, err := store.Init(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cluster directory: %w", err)
	}
	if err := s.SetDefaultCluster(dir); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Initialized store at '%s'.\n", path)
	fmt.Fprintf(out, "Created cluster directory '%s' and recorded it as the default.\n", dir)
	return nil
}
