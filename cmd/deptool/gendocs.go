package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGenDocsCmd writes the command reference in docs/cmd. Hidden: it is for
// 'just docs', not for operators.
func newGenDocsCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gen-docs <dir>",
		Short:  "Write the Markdown command reference into <dir>",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return genDocs(args[0])
		},
	}
}

func genDocs(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := newRootCmd()
	root.DisableAutoGenTag = true
	// What cobra adds only when it executes: --version, and the
	// completion command. The reference must show what --help shows.
	root.InitDefaultVersionFlag()
	root.InitDefaultCompletionCmd()
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return fmt.Errorf("generate docs: %w", err)
	}
	return nil
}
