package main

import (
	"fmt"
	"os"

	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
)

func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init [<dir>]",
		Short: "Create the store and the cluster directory",
		Long: `Create the store (.deptool, or $DEPTOOL_STORE) and the cluster directory
<dir> (default: prod), and record <dir> as the default cluster for the
other commands. Running it again on an existing store only records <dir>.`,
		Example: `  deptool init prod
  mkdir -p prod/web1/nginx && $EDITOR prod/web1/nginx/nginx.conf`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "prod"
			if len(args) == 1 {
				dir = args[0]
			}
			return runInit(cmd, storePath(), dir)
		},
	}
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
