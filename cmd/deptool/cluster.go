package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// storePath is the store to open: $DEPTOOL_STORE, or the first .deptool
// in the working directory or one of its parents, as Git finds .git; or
// ./.deptool when there is none, so that the error names it.
func storePath() string {
	if p := os.Getenv("DEPTOOL_STORE"); p != "" {
		return p
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, ".deptool")
			if fi, err := os.Stat(filepath.Join(p, "HEAD")); err == nil && !fi.IsDir() {
				return p
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return ".deptool"
}

// initPath is where init creates the store: $DEPTOOL_STORE, or .deptool in
// the working directory.
func initPath() string {
	if p := os.Getenv("DEPTOOL_STORE"); p != "" {
		return p
	}
	return ".deptool"
}

// cluster is what every command but init works on: the store and the config
// tree it deploys, hashed and validated.
type cluster struct {
	store *store.Store
	dir   string
	snap  *store.Snapshot
	// hosts are the tree's hosts, sorted; groups are its groups.json.
	hosts  []string
	groups diff.Groups
}

// Name is the cluster's name: its directory's base name.
func (c *cluster) Name() string { return filepath.Base(filepath.Clean(c.dir)) }

// openCluster opens the store, finds the cluster directory (the argument, or
// the one init recorded) and hashes and validates the tree in it. Nothing is
// committed: a tree that fails validation leaves no trace, and the default
// cluster stays what init made it.
func openCluster(cmd *cobra.Command, args []string) (*cluster, error) {
	s, err := store.Open(storePath())
	if err != nil {
		return nil, err
	}
	dir, err := clusterDir(s, args)
	if err != nil {
		return nil, err
	}
	t, err := deploy.LoadTree(s, dir, func(ignored []string) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Ignoring %s: only directories <host>/<app>/ are deployed.\n", strings.Join(ignored, ", "))
	})
	if err != nil {
		return nil, err
	}
	return &cluster{store: s, dir: dir, snap: t.Snap, hosts: t.Hosts, groups: t.Groups}, nil
}

func clusterDir(s *store.Store, args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	dir, ok, err := s.DefaultCluster()
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errors.New("no cluster directory given and none recorded: pass <dir>, or run 'deptool init <dir>'")
	}
	// Recorded absolute; named relative to here when it is below, so
	// that problems name "prod/web1/..." as the operator would.
	if wd, err := os.Getwd(); err == nil && filepath.IsAbs(dir) {
		if rel, err := filepath.Rel(wd, dir); err == nil && filepath.IsLocal(rel) && rel != "." {
			return rel, nil
		}
	}
	return dir, nil
}

// isTerminal reports whether w is a terminal, for colour, pager and prompts.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func useColor(w io.Writer) bool {
	return isTerminal(w) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}

// withPager runs render with its output going through $PAGER (default
// less) when stdout is a terminal, and straight to stdout otherwise. As
// Git does, it sets LESS=FRX unless LESS is set: less then exits at once
// when the text fits the screen, passes colours, and leaves the text on
// the screen when it exits.
func withPager(cmd *cobra.Command, render func(w io.Writer, color bool) error) error {
	return withPagerTo(cmd, cmd.OutOrStdout(), render)
}

// withPagerTo is withPager writing to out. A pager quit before the end
// (q in less) is the reader's choice, not an error; a pager that is not
// installed is noted on stderr, and the text printed without it.
func withPagerTo(cmd *cobra.Command, out io.Writer, render func(w io.Writer, color bool) error) error {
	pager, set := os.LookupEnv("PAGER")
	if !set {
		pager = "less"
	}
	if !isTerminal(out) || pager == "" || pager == "cat" {
		return render(out, useColor(out))
	}
	if name := pagerProgram(pager); name != "" {
		if _, err := exec.LookPath(name); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "deptool: no pager %q (%s is not installed): printing without one; set PAGER to one that is, or PAGER=cat\n", pager, name)
			return render(out, useColor(out))
		}
	}
	p := exec.Command("sh", "-c", pager)
	p.Env = pagerEnv(os.Environ())
	p.Stdout, p.Stderr = out, cmd.ErrOrStderr()
	in, err := p.StdinPipe()
	if err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return fmt.Errorf("start pager %q: %w (set PAGER=cat to do without)", pager, err)
	}
	renderErr := render(in, useColor(out))
	in.Close()
	waitErr := p.Wait()
	if renderErr != nil && !errors.Is(renderErr, syscall.EPIPE) {
		return renderErr
	}
	if waitErr != nil {
		return fmt.Errorf("pager %q: %w", pager, waitErr)
	}
	return nil
}

// pagerProgram is the program a $PAGER runs, when it is a plain command
// line ("less -R"); "" when it is shell code this cannot judge.
func pagerProgram(pager string) string {
	if strings.ContainsAny(pager, "|&;<>()$`\\\"'*?[]{}=~") {
		return ""
	}
	if f := strings.Fields(pager); len(f) > 0 {
		return f[0]
	}
	return ""
}

// pagerEnv is env with LESS=FRX added unless LESS is set, even to "".
func pagerEnv(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "LESS=") {
			return env
		}
	}
	return append(env, "LESS=FRX")
}

// outputFormat validates --output.
func outputFormat(v string) (json bool, err error) {
	switch v {
	case "text":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("--output %q: want text or json", v)
}

func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "text", "output format: text or json")
}

// addVerboseFlag adds --verbose: output groups hosts that say the same
// thing up to host names, hashes and numbers; --verbose lists each.
func addVerboseFlag(cmd *cobra.Command, verbose *bool) {
	cmd.Flags().BoolVarP(verbose, "verbose", "v", false, "list every host, instead of grouping hosts that say the same thing")
}

// commandLine names this command for whoever finds the store's deploy
// lock taken.
func commandLine() string {
	return strings.Join(append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...), " ")
}
