package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
)

func newSignersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signers",
		Short: "List the team's signers: the keys whose deploys this store trusts",
		Long: `List the team's allowed signers: the keys whose signed deploys this store
trusts (for rollback, log, status and plans; hosts check their own
authorized_keys or /etc/deptool/allowed_signers). The list lives in the
store (refs/deptool/signers) and travels through the team's remote; each
change is a commit signed by a key the list before it allows, so someone
who can only push to the remote cannot change it. A store trusts the list
it started at 'deptool init', or took at its first 'deptool clone', and
every verified change since.

The store's .deptool/allowed_signers is written from the list, for stock
Git: git --git-dir .deptool -c gpg.format=ssh
-c gpg.ssh.allowedSignersFile=.deptool/allowed_signers verify-commit REV`,
		Example: `  deptool signers
  deptool signers add --name bob@laptop ~/bob.pub
  deptool signers remove SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store.Open(storePath())
			if err != nil {
				return err
			}
			fetchRemote(cmd, s)
			list, tip, ok, err := s.TeamSigners()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !ok {
				keys, err := s.AllowedSigners()
				if err != nil {
					return err
				}
				fmt.Fprintln(out, trustedLine(keys, s.Path()+"/"+store.AllowedSignersName))
				fmt.Fprintln(out, "The list does not travel with the store yet: 'deptool signers add' starts the team's.")
				return nil
			}
			fmt.Fprintf(out, "The team's signers (%s at %s):\n", store.SignersRef, tip.Short())
			for _, a := range list {
				fmt.Fprintf(out, "  %s  %s\n", a.Fingerprint(), a.Principal)
			}
			return nil
		},
	}
	var name string
	add := &cobra.Command{
		Use:   "add KEY",
		Short: "Allow a key to sign deploys, for the whole team",
		Long: `Add KEY to the team's signers: a public key file (id_ed25519.pub), or a
public key line in quotes ("ssh-ed25519 AAAA... bob@laptop"). The change is
a commit signed with your signing key (see docs/security.md), which must be
a signer already, and is pushed at once to the team's remote. The first
change of a store whose list does not travel yet starts it, with your key
and the keys of the store's allowed_signers file.

A cert-authority key lets every user certificate it signed sign deploys.`,
		Example: `  deptool signers add --name bob@laptop ~/bob.pub`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, comment, err := readPublicKey(args[0])
			if err != nil {
				return err
			}
			if name == "" {
				if name = comment; name == "" {
					return fmt.Errorf("%s has no comment to name its signer by: name one with --name, as in 'deptool signers add --name bob@laptop %s'", args[0], args[0])
				}
			}
			a, err := store.NewAllowedSigner(name, key)
			if err != nil {
				return err
			}
			return changeSigners(cmd, func(list []store.AllowedSigner) ([]store.AllowedSigner, string, error) {
				if store.Allows(list, key) {
					return nil, "", fmt.Errorf("%s is already one of the team's signers", a.Fingerprint())
				}
				return append(list, a), fmt.Sprintf("signers: add %s %s\n", a.Principal, a.Fingerprint()), nil
			})
		},
	}
	add.Flags().StringVar(&name, "name", "", "who the key is, as one word (default: the key's comment)")
	remove := &cobra.Command{
		Use:   "remove KEY",
		Short: "Stop trusting a key's deploys, for the whole team",
		Long: `Remove a key from the team's signers: KEY is its fingerprint (SHA256:...),
its signer's name, a public key file or line. Deploys it signed, earlier
ones included, are then not verified: a removed key may be a stolen one.
The change is signed with your signing key, which must be a signer, and is
pushed at once to the team's remote.`,
		Example: `  deptool signers remove SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			match := func(a store.AllowedSigner) bool { return a.Fingerprint() == args[0] || a.Principal == args[0] }
			if key, _, err := readPublicKey(args[0]); err == nil {
				match = func(a store.AllowedSigner) bool { return bytes.Equal(a.Key.Marshal(), key.Marshal()) }
			}
			return changeSigners(cmd, func(list []store.AllowedSigner) ([]store.AllowedSigner, string, error) {
				i := slices.IndexFunc(list, match)
				if i < 0 {
					return nil, "", fmt.Errorf("%s is not one of the team's signers ('deptool signers' lists them)", args[0])
				}
				gone := list[i]
				return slices.DeleteFunc(slices.Clone(list), match), fmt.Sprintf("signers: remove %s %s\n", gone.Principal, gone.Fingerprint()), nil
			})
		},
	}
	cmd.AddCommand(add, remove)
	return cmd
}

// changeSigners makes the change edit computes to the team's signers,
// between an exchange with the remote that brings the team's latest list
// and one that sends the change.
func changeSigners(cmd *cobra.Command, edit func([]store.AllowedSigner) ([]store.AllowedSigner, string, error)) error {
	s, err := store.Open(storePath())
	if err != nil {
		return err
	}
	tx, err := deploy.Begin(cmd.Context(), s, commandLine(), team(cmd))
	if err != nil {
		return err
	}
	defer tx.End()
	sign, pub, closeKey, err := deploy.SigningKey(s, transport.Options{}, "")
	if err != nil {
		return err
	}
	defer closeKey()
	if sign == nil {
		return errors.New("no signing key was found to sign the change with: add your key to ssh-agent, or name one with DEPTOOL_SIGNING_KEY (see docs/security.md)")
	}
	list, _, ok, err := s.TeamSigners()
	if err != nil {
		return err
	}
	if !ok {
		// The list starts travelling: the store's own file, and the
		// key that signs the start.
		if list, err = s.Signers(); err != nil {
			return err
		}
		if !store.Allows(list, pub) {
			me, err := store.NewAllowedSigner(store.Operator(), pub)
			if err != nil {
				return err
			}
			list = append(list, me)
		}
	}
	next, message, err := edit(list)
	if err != nil {
		return err
	}
	if _, err := s.ChangeSigners(next, message, sign, pub); err != nil {
		return err
	}
	url, reached := tx.Exchange()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s", strings.TrimPrefix(message, "signers: "))
	fmt.Fprintln(out, signersLine(next))
	if url != "" && !reached {
		fmt.Fprintf(out, "Not on the remote %s yet: the next command that reaches it sends the change.\n", url)
	} else if n, _ := s.Unpushed(); url != "" && n > 0 {
		fmt.Fprintf(out, "Not pushed to %s: its signers are not ones this store took; see docs/security.md.\n", url)
	}
	return nil
}

// readPublicKey reads a public key from a file, or a key line given as is.
func readPublicKey(arg string) (ssh.PublicKey, string, error) {
	data := []byte(arg)
	if !strings.HasPrefix(arg, "ssh-") && !strings.HasPrefix(arg, "ecdsa-") && !strings.HasPrefix(arg, "sk-") {
		var err error
		if data, err = os.ReadFile(arg); err != nil {
			return nil, "", fmt.Errorf("key %s: %w: name a public key file, or give the key line in quotes", arg, err)
		}
	}
	key, comment, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil, "", fmt.Errorf("key %s: not a public key (%v): name a .pub file, or give the key line in quotes", arg, err)
	}
	return key, comment, nil
}

// signersLine names the signers a store trusts, by fingerprint and name.
func signersLine(list []store.AllowedSigner) string {
	names := make([]string, len(list))
	for i, a := range list {
		names[i] = a.Fingerprint() + " (" + a.Principal + ")"
	}
	return "Trusted signers: " + strings.Join(names, ", ")
}

// reportSigners says what a fetch did with the team's signers: a list
// taken on first sight is printed for the operator to check, a change
// refused is reported (once: the store remembers it).
func reportSigners(cmd *cobra.Command, s *store.Store, url string, news store.SignersNews) {
	w := cmd.ErrOrStderr()
	if r := news.Refused; r != nil {
		fmt.Fprintf(w, "deptool: refused the signers from remote %s: %s\nthis store keeps trusting its own list ('deptool signers'); whoever can push to the remote changed it without a signer's key: tell the team\n", url, r.Error())
	}
	if !news.Dropped.IsZero() {
		fmt.Fprintf(w, "deptool: this store's change to the signers (%s) had not reached the remote when the team changed them there: it is dropped, make it again\n", news.Dropped.Short())
	}
	if news.Taken.IsZero() {
		return
	}
	list, _, _, err := s.TeamSigners()
	if err != nil {
		return
	}
	if news.First {
		fmt.Fprintf(w, "deptool: took the team's signers from remote %s (%s at %s), trusted from now on: check these fingerprints with the team\n%s\n", url, store.SignersRef, news.Taken.Short(), signersLine(list))
		return
	}
	fmt.Fprintf(w, "deptool: the team's signers changed (%s at %s, signed by a signer)\n%s\n", store.SignersRef, news.Taken.Short(), signersLine(list))
}

// startSigners starts a new store's signers with the operator's key,
// unless the store took the team's from its remote or no key is found:
// the trust chain starts here.
func startSigners(cmd *cobra.Command, s *store.Store) error {
	if _, _, ok, err := s.TeamSigners(); err != nil || ok {
		return err
	}
	sign, pub, closeKey, err := deploy.SigningKey(s, transport.Options{}, "")
	defer closeKey()
	if err != nil || sign == nil {
		return nil // no key: deploys are unsigned until one is found
	}
	me, err := store.NewAllowedSigner(store.Operator(), pub)
	if err != nil {
		return err
	}
	list := []store.AllowedSigner{me}
	if _, err := s.ChangeSigners(list, fmt.Sprintf("signers: start with %s %s\n", me.Principal, me.Fingerprint()), sign, pub); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), signersLine(list))
	return nil
}

// checkVouched refuses a clone's signers unless one of fps signed a
// change of them; nothing to check without fps.
func checkVouched(s *store.Store, fps []string, url string) error {
	if len(fps) == 0 {
		return nil
	}
	for _, fp := range fps {
		ok, err := s.SignersVouchedBy(fp)
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("none of %s signed the signers of %s, so nothing was cloned: check the fingerprints with the team ('deptool signers' in their store lists them)", strings.Join(fps, ", "), url)
}
