package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"filippo.io/age"
	"github.com/deptool/deptool/deploy/secret"
	"github.com/deptool/deptool/deploy/transport"
	"github.com/spf13/cobra"
)

func newSecretCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Encrypt and edit secrets (NAME.age files) for a host",
		Long: `A file NAME.age in an app is a secret: an age file encrypted to the host's
SSH host key, which the agent decrypts on the host into NAME (mode 0600,
owned by root, unless the manifest's "files" says otherwise). The store,
the Git remote and every other host only ever hold the ciphertext.

Secrets are encrypted to the host key deptool trusts, the one known_hosts
holds for the host as the SSH config resolves it, and to the team's
recipients in ` + secret.RecipientsFile + ` next to the store (age1... keys or
SSH public keys, one a line), so that the team can edit them later.
See docs/secrets.md.`,
	}
	cmd.AddCommand(newSecretEncryptCmd(), newSecretEditCmd())
	return cmd
}

// recipientsFile is the team's recipients file, beside the store.
func recipientsFile() string {
	return filepath.Join(filepath.Dir(filepath.Clean(storePath())), secret.RecipientsFile)
}

func encrypter() secret.Encrypter {
	return secret.Encrypter{HostKeys: secret.KnownHosts(transport.Options{}), Team: recipientsFile()}
}

func newSecretEncryptCmd() *cobra.Command {
	var out, legacyOut string
	cmd := &cobra.Command{
		Use:   "encrypt HOST [FILE]",
		Short: "Encrypt a file (or stdin) for a host",
		Long: `Encrypt FILE, or stdin without one, to HOST's SSH host key from
known_hosts and to the team's recipients, and write the armored age file to
stdout or to --out. Put it in the config tree as <host>/<app>/NAME.age.
(-o/--output FILE, its name before, still works with a warning: -o is the
output format in every other command.)`,
		Example: `  deptool secret encrypt web1 db.password --out prod/web1/app/db.password.age
  printf %s "$TOKEN" | deptool secret encrypt web1 > prod/web1/app/token.age`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if legacyOut != "" {
				if legacyOut == "json" || legacyOut == "text" {
					return fmt.Errorf("-o %s: secret encrypt writes an age file and has no output format; to write a file named %q, use --out %s", legacyOut, legacyOut, legacyOut)
				}
				out = cmp.Or(out, legacyOut)
			}
			var plain []byte
			var err error
			if len(args) == 2 {
				plain, err = os.ReadFile(args[1])
			} else {
				plain, err = io.ReadAll(cmd.InOrStdin())
			}
			if err != nil {
				return err
			}
			ct, err := encrypter().Encrypt(args[0], plain)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(ct)
				return err
			}
			return secret.WriteFile(out, ct)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "O", "", "write the age file to this path instead of stdout")
	cmd.Flags().StringVarP(&legacyOut, "output", "o", "", "write the age file to this path")
	cmd.Flags().MarkDeprecated("output", "use --out FILE (-O): -o/--output is the output format in every other command")
	return cmd
}

// defaultIdentities are tried for decrypting when --identity is not given.
var defaultIdentities = []string{"~/.config/age/keys.txt", "~/.ssh/id_ed25519", "~/.ssh/id_rsa"}

func newSecretEditCmd() *cobra.Command {
	var identities []string
	cmd := &cobra.Command{
		Use:   "edit HOST PATH",
		Short: "Decrypt a secret, edit it in $EDITOR, re-encrypt it",
		Long: `Decrypt the age file PATH with your identity (which must be one of its
recipients: list it in ` + secret.RecipientsFile + `), open the plaintext in $EDITOR
($VISUAL first, as Git does; default vi), and encrypt the result again for HOST and the team. A missing
PATH starts empty. The plaintext is written only to a private 0700
directory (in /dev/shm when there is one), removed when the editor exits.`,
		Example: `  deptool secret edit web1 prod/web1/app/db.password.age
  deptool secret edit --identity ~/.config/age/keys.txt db1 prod/db1/pg/pass.age`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := loadIdentities(identities)
			if err != nil {
				return err
			}
			// As Git: $VISUAL, then $EDITOR, then vi.
			editor := cmp.Or(os.Getenv("VISUAL"), os.Getenv("EDITOR"), "vi")
			ed := secret.Editor{
				Encrypter:  encrypter(),
				Identities: ids,
				Command: func(p string) *exec.Cmd {
					// exec: a shell left waiting in between would die of the
					// Ctrl-C typed at the editor, and end the edit under it.
					c := exec.Command("sh", "-c", "exec "+editor+` "$1"`, "editor", p)
					c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
					return c
				},
			}
			removed, lerr := ed.RemoveLeftovers()
			for _, dir := range removed {
				fmt.Fprintf(cmd.ErrOrStderr(), "removed %s: the plaintext a killed secret edit left\n", dir)
			}
			if lerr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the plaintext a killed secret edit left could not all be removed: %v\n", lerr)
			}
			err = ed.Edit(args[0], args[1])
			var se *secret.SignalError
			if errors.As(err, &se) {
				return &exitError{code: se.ExitCode(), err: err}
			}
			if errors.Is(err, secret.ErrUnchanged) || errors.Is(err, secret.ErrReencrypted) {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", args[1], err)
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringSliceVarP(&identities, "identity", "i", nil, "age identity file or SSH private key to decrypt with (default: ~/.config/age/keys.txt, ~/.ssh/id_ed25519, ~/.ssh/id_rsa, those that exist)")
	return cmd
}

func loadIdentities(files []string) ([]age.Identity, error) {
	explicit := len(files) > 0
	if !explicit {
		files = defaultIdentities
	}
	home, _ := os.UserHomeDir()
	var ids []age.Identity
	for _, f := range files {
		if len(f) > 1 && f[:2] == "~/" {
			f = filepath.Join(home, f[2:])
		}
		if _, err := os.Stat(f); err != nil && !explicit {
			continue
		}
		got, err := secret.ReadIdentity(f)
		if err != nil {
			if !explicit {
				continue // a default that does not fit, such as a passphrase-protected key
			}
			return nil, err
		}
		ids = append(ids, got...)
	}
	return ids, nil
}
