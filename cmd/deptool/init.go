package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
)

func newInitCmd() *cobra.Command {
	var remote string
	cmd := &cobra.Command{
		Use:   "init [<dir>]",
		Short: "Create the store and the cluster directory",
		Long: `Create the store (.deptool, or $DEPTOOL_STORE) and the cluster directory
<dir> (default: prod), and record <dir> as the default cluster for the
other commands: only init changes it. Running it again on an existing store
keeps the store and only records <dir>.

The other commands find the store in the working directory or the nearest
parent directory that holds a .deptool, as Git finds .git.

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
			created, err := runInit(cmd, initPath(), dir, remote == "")
			if err != nil || remote == "" {
				return err
			}
			s, err := store.Open(initPath())
			if err != nil {
				return err
			}
			// No remote is recorded yet: the transaction begins with no
			// exchange, and reaches the new one before recording it.
			tx, err := deploy.Begin(cmd.Context(), s, commandLine(), team(cmd))
			if err != nil {
				return err
			}
			defer tx.End()
			res, err := reachRemote(tx, s, remote)
			if err != nil {
				return err
			}
			// A team's remote that keeps signers gives this store its
			// list, as a clone takes it; else the chain starts here.
			reportSigners(cmd, s, remote, res.Signers)
			if created {
				if err := startSigners(cmd, s); err != nil {
					return err
				}
			}
			if err := s.SetRemote(remote); err != nil {
				return err
			}
			// Clones take the default cluster from the remote, so 'clone'
			// then 'deploy' target the same directory as here.
			if _, err := s.PublishDefaultCluster(); err != nil {
				return err
			}
			tx.Exchange()
			fmt.Fprintf(cmd.OutOrStdout(), "Recorded %s as the store's remote.\n", remote)
			return nil
		},
	}
	cmd.Flags().StringVar(&remote, "remote", "", "record this Git URL as the store's remote, shared with a team")
	return cmd
}

// reachRemote fetches from url before init records it: a mistyped remote
// recorded with a warning would send every later command to it first,
// and keep the team's records from the team. A remote that answers and
// refuses is recorded: it was reached.
func reachRemote(tx *deploy.Transaction, s *store.Store, url string) (store.SyncResult, error) {
	res, err := tx.Reach(url)
	if err != nil {
		return res, fmt.Errorf("remote %s not reached, so not recorded: %w\ncheck the URL (an empty repository made with 'git init --bare' is fine) and run 'deptool init --remote URL' again; to record it anyway: git --git-dir %s config deptool.%s URL",
			url, err, s.Path(), store.RemoteOption)
	}
	return res, nil
}

// runInit makes the store and the cluster directory; created says the
// store is new. With startChain, a new store's signers start with the
// operator's key; without, the caller starts them once it has fetched
// the team's remote.
func runInit(cmd *cobra.Command, path, dir string, startChain bool) (created bool, err error) {
	if err := checkInitDirs(path, dir); err != nil {
		return false, err
	}
	_, err = os.Stat(filepath.Join(path, "HEAD"))
	storeExisted := err == nil
	s, err := store.Init(path)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(dir)
	dirExisted := err == nil
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("create cluster directory: %w", err)
	}
	if err := s.SetDefaultCluster(dir); err != nil {
		return false, err
	}
	out := cmd.OutOrStdout()
	var signNote string
	if !storeExisted {
		// New stores whose operator has a key sign every deploy, and
		// their hosts refuse unsigned ones; without a key (and in stores
		// from before signing) it stays off until turned on
		// (docs/security.md).
		sign, pub, closeKey, err := deploy.SigningKey(s, transport.Options{}, "")
		closeKey()
		if err == nil && sign != nil {
			if err := s.SetRequireSignatures(true); err != nil {
				return false, err
			}
			signNote = fmt.Sprintf("Deploys are signed with %s %s; hosts will refuse unsigned ones.\n", pub.Type(), ssh.FingerprintSHA256(pub))
		}
	}
	if storeExisted {
		fmt.Fprintf(out, "Store at '%s' already exists; kept it as it is.\n", path)
	} else {
		fmt.Fprintf(out, "Initialized store at '%s'.\n", path)
	}
	if dirExisted {
		fmt.Fprintf(out, "Recorded the cluster directory '%s' as the default.\n", dir)
	} else {
		fmt.Fprintf(out, "Created cluster directory '%s' and recorded it as the default.\n", dir)
	}
	fmt.Fprint(out, signNote)
	if !storeExisted && startChain {
		return true, startSigners(cmd, s)
	}
	return !storeExisted, nil
}

// checkInitDirs refuses a cluster directory that is, holds or lies in the
// store (its objects and refs would become hosts, or the tree its own
// store), and one that is a file, before the store is made.
func checkInitDirs(storePath, dir string) error {
	st, err := filepath.Abs(storePath)
	if err != nil {
		return err
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if within(d, st) || within(st, d) {
		return fmt.Errorf("cluster directory %s is, or holds, the store %s: the store's own files would become hosts; name a directory of its own, such as prod", dir, storePath)
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("cluster directory %s is a file; name a directory (it is created if missing), such as prod", dir)
	}
	return nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
