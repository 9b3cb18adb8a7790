package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
)

// team is how this command line exchanges records with the store's
// remote: what it says goes to stderr.
func team(cmd *cobra.Command) deploy.Team {
	return deploy.Team{Log: cmd.ErrOrStderr(), Signers: func(s *store.Store, url string, news store.SignersNews) {
		reportSigners(cmd, s, url, news)
	}}
}

// fetchRemote takes in what other clones recorded, for the commands that
// only read (status, log, diff, a plan): see deploy.FetchTeam.
func fetchRemote(cmd *cobra.Command, s *store.Store) (url string, reached bool) {
	return deploy.FetchTeam(cmd.Context(), s, commandLine(), team(cmd))
}

// cloneDir is the directory clone makes when it is not named: the
// remote's name without .git, or for a store itself (/srv/ops/.deptool)
// the directory holding it; "" when the URL names none.
func cloneDir(url string) string {
	url = strings.TrimRight(url, "/")
	base := path.Base(filepath.ToSlash(url))
	if base == ".deptool" {
		base = path.Base(path.Dir(filepath.ToSlash(url)))
	}
	base = strings.TrimSuffix(base, ".git")
	if i := strings.LastIndexByte(base, ':'); i >= 0 {
		base = base[i+1:] // host:repo
	}
	if base == "" || base == "." || base == ".." || base == "/" || strings.HasPrefix(base, ".") {
		return ""
	}
	return base
}

// trustedLine names the fingerprints a store trusts to sign deploys.
func trustedLine(keys []ssh.PublicKey, file string) string {
	if len(keys) == 0 {
		return fmt.Sprintf("Trusted signers: none yet, so fetched deploys are not verified: start the team's list with 'deptool signers add KEY', or add keys to %s (see docs/security.md).", file)
	}
	fps := make([]string, len(keys))
	for i, k := range keys {
		fps[i] = ssh.FingerprintSHA256(k)
	}
	return "Trusted signers: " + strings.Join(fps, ", ")
}

func newCloneCmd() *cobra.Command {
	var cluster string
	var signerFPs []string
	cmd := &cobra.Command{
		Use:   "clone URL [DIR]",
		Short: "Make a working store from a team's remote",
		Long: `Create DIR (default: the remote's name) with a store DIR/.deptool cloned
from URL: every deploy, host ref, pin and outcome, and URL recorded as the
store's remote. The cluster directory DIR/<cluster> is created and recorded
as the default: the one the team's remote names (as published by
'deptool init --remote'), else prod, or --cluster. Put or generate the
config tree there.

With a remote, commands that plan (diff, status, deploy, rollback, log, pin,
sync) first fetch what other clones recorded, and the ones that record
(deploy, rollback, pin, unpin, sync) push it at once. URL is anything Git
reaches: a path, file://, ssh://.

The team's signers (see 'deptool signers') come with the clone: it takes
them only if every change in them is signed by a signer of the list
before, and prints the fingerprints it trusts from then on. Check them with
the team, or name a teammate's key with --signer: the clone then refuses
a list that key never signed.`,
		Example: `  deptool clone /srv/git/deptool-prod.git ops
  deptool clone --signer SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8 /srv/git/deptool-prod.git ops
  cd ops && deptool status`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			url := args[0]
			var dir string
			if len(args) == 2 {
				if dir = args[1]; dir == "" {
					return errors.New("DIR is empty: name the directory to clone into, or leave it out to use the remote's name")
				}
			} else if dir = cloneDir(url); dir == "" {
				return fmt.Errorf("cannot tell a directory name from %s: name one, as in 'deptool clone %s ops'", url, url)
			}
			path := filepath.Join(dir, ".deptool")
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("%s already holds a store: use it, or clone into another directory", path)
			}
			// What a failed clone made goes again: the store, and DIR
			// when the clone created it.
			made := path
			if _, err := os.Lstat(dir); err != nil {
				made = dir
			}
			s, err := store.Init(path)
			if err != nil {
				os.RemoveAll(made)
				return err
			}
			if err := s.SetRemote(url); err != nil {
				os.RemoveAll(made)
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*deploy.RemoteTimeout)
			defer cancel()
			res, err := s.Fetch(ctx, url, deploy.RemoteSSH)
			if err != nil {
				os.RemoveAll(made)
				return err
			}
			// The chain of trust starts here, with the team's list as
			// the remote holds it: taken only if each change in it is
			// signed by a signer of the list before.
			if r := res.Signers.Refused; r != nil {
				os.RemoveAll(made)
				return fmt.Errorf("the remote's signers do not verify, so nothing was cloned: %v\nwhoever can push to %s changed them without a signer's key: ask the team which list to trust", r, url)
			}
			if err := checkVouched(s, signerFPs, url); err != nil {
				os.RemoveAll(made)
				return err
			}
			// The team's default cluster, unless --cluster names another.
			if !cmd.Flags().Changed("cluster") {
				shared, ok, err := s.SharedCluster()
				if err != nil {
					return err
				}
				if ok {
					cluster = shared
				}
			}
			if err := os.MkdirAll(filepath.Join(dir, cluster), 0o755); err != nil {
				return fmt.Errorf("create cluster directory: %w", err)
			}
			if err := s.SetDefaultCluster(filepath.Join(dir, cluster)); err != nil {
				return err
			}
			hist, err := s.History(0)
			if err != nil {
				return err
			}
			hosts, err := s.HostRefs()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Cloned %s into '%s': %d deploys, %d hosts. Cluster directory '%s'.\n", url, path, len(hist), len(hosts), filepath.Join(dir, cluster))
			// Say whom this clone trusts, so that no one takes its
			// history for verified unawares.
			list, tip, ok, err := s.TeamSigners()
			if err != nil {
				return err
			}
			if !ok {
				fmt.Fprintln(cmd.OutOrStdout(), trustedLine(nil, filepath.Join(path, store.AllowedSignersName)))
				return nil
			}
			// The team signs: so does this clone.
			if err := s.SetRequireSignatures(true); err != nil {
				return err
			}
			how := "on first sight: check these fingerprints with the team"
			if len(signerFPs) > 0 {
				how = "as signed by the key --signer names"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Took the team's signers (%s at %s) %s.\n%s\n", store.SignersRef, tip.Short(), how, signersLine(list))
			return nil
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "prod", "the cluster directory to create in DIR; unset: the one the remote names, else prod")
	cmd.Flags().StringArrayVar(&signerFPs, "signer", nil, "clone only if the team's signers were signed, at some change, by this key (a fingerprint, SHA256:..., a teammate gave you)")
	return cmd
}
