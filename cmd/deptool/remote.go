package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
)

// remoteTimeout bounds each exchange with the store's remote: a plan must
// not wait on an unreachable remote longer than an operator waits for it.
const remoteTimeout = 10 * time.Second

// syncRemote exchanges records with the store's remote, if it has one:
// fetches and integrates what other clones recorded, and pushes what this
// one recorded. Without the remote, it says so in one line and the command
// goes on from this store alone. locked says the caller holds the store's
// deploy lock; without it, syncRemote takes it, and skips the exchange
// while a deploy from this store runs.
//
// It returns the remote's URL ("" without one) and whether the exchange
// took place, for status to say how the store compares with the remote.
func syncRemote(cmd *cobra.Command, s *store.Store, locked bool) (url string, reached bool) {
	return exchangeRemote(cmd, s, locked, true)
}

// fetchRemote is syncRemote for the commands that only read (status, log,
// diff, a plan): they take what other clones recorded and send nothing.
// A push is for what a command records; a read that pushed paid for every
// large file the store held before it could answer.
func fetchRemote(cmd *cobra.Command, s *store.Store) (url string, reached bool) {
	return exchangeRemote(cmd, s, false, false)
}

func exchangeRemote(cmd *cobra.Command, s *store.Store, locked, push bool) (url string, reached bool) {
	url, err := s.Remote()
	if err != nil || url == "" {
		return "", false
	}
	if !locked {
		lock, err := lockStore(s)
		if errors.Is(err, store.ErrBusy) {
			fmt.Fprintln(cmd.ErrOrStderr(), "deptool: not exchanging records with the remote: a deploy from this store is running")
			return url, false
		}
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "deptool: not exchanging records with the remote: %v\n", err)
			return url, false
		}
		defer lock.Unlock()
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), remoteTimeout)
	defer cancel()
	var res store.SyncResult
	if push {
		res, err = s.Sync(ctx, url)
	} else {
		res, err = s.Fetch(ctx, url)
	}
	if err != nil {
		ahead := ""
		if n, _ := s.Unpushed(); n > 0 {
			ahead = fmt.Sprintf(" (%d of its refs not on the remote yet)", n)
		}
		if errors.Is(err, store.ErrRemoteMoved) {
			// Reached, but other clones pushed at every round.
			fmt.Fprintf(cmd.ErrOrStderr(), "deptool: remote %s kept moving while this store integrated it (other clones pushing): its records%s go with the next command that reaches the remote\n", url, ahead)
			return url, false
		}
		if errors.Is(err, store.ErrRemoteRejected) {
			// Reached: what it refused stays here until what it said is
			// fixed, on the remote or in this store.
			fmt.Fprintf(cmd.ErrOrStderr(), "deptool: remote %s refused this store's records%s: %v\nworking from this store alone; fix what the remote objects to, and the next command that reaches it sends them\n", url, ahead, err)
			return url, false
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "deptool: remote %s not reached (%v): working from this store alone, which may be behind; its records%s go with the next command that reaches the remote\n", url, err, ahead)
		return url, false
	}
	if res.Merged {
		fmt.Fprintln(cmd.ErrOrStderr(), "deptool: merged the deploys other clones of this store recorded")
	}
	reportSigners(cmd, s, url, res.Signers)
	return url, true
}

// remoteStatus is status's account of the store against its remote.
type remoteStatus struct {
	URL     string `json:"url"`
	Reached bool   `json:"reached"`
	store.RemoteState
}

// line says in one line how the store compares with its remote; offline,
// as of the last exchange.
func (r remoteStatus) line() string {
	when := "just now"
	if !r.Reached {
		when = "as of the last exchange (not reached now)"
	}
	if r.InStep() {
		return fmt.Sprintf("remote %s, %s: in step", r.URL, when)
	}
	line := fmt.Sprintf("remote %s, %s: this store's main is %d %s ahead, %d behind", r.URL, when, r.Ahead, plural(r.Ahead, "commit", "commits"), r.Behind)
	if r.Refs > 0 {
		line += fmt.Sprintf("; %d host %s", r.Refs, plural(r.Refs, "ref or pin differs", "refs or pins differ"))
	}
	return line
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
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
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*remoteTimeout)
			defer cancel()
			res, err := s.Fetch(ctx, url)
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
