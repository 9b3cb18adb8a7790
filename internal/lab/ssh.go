package lab

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// newKey makes an ed25519 key pair: the private key in OpenSSH PEM form and
// the public key in authorized_keys form (without newline).
func newKey(comment string) (priv []byte, pub string, err error) {
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	block, err := ssh.MarshalPrivateKey(sk, comment)
	if err != nil {
		return nil, "", err
	}
	sp, err := ssh.NewPublicKey(pk)
	if err != nil {
		return nil, "", err
	}
	pub = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
	if comment != "" {
		pub += " " + comment
	}
	return pem.EncodeToMemory(block), pub, nil
}

// clientKey returns the lab's client key from the state directory, making
// it on first use.
func clientKey(dir string) (ssh.Signer, []byte, error) {
	path := filepath.Join(dir, clientKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		priv, pub, err := newKey("deptool-lab")
		if err != nil {
			return nil, nil, err
		}
		if err := writeFileAtomic(path+".pub", []byte(pub+"\n"), 0o644); err != nil {
			return nil, nil, err
		}
		if err := writeFileAtomic(path, priv, 0o600); err != nil {
			return nil, nil, err
		}
		b = priv
	} else if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, nil, fmt.Errorf("client key %s: %w", path, err)
	}
	return signer, ssh.MarshalAuthorizedKey(signer.PublicKey()), nil
}

// dial opens an SSH connection to host h, trusting only its recorded key.
func dial(ctx context.Context, h *hostState, signer ssh.Signer) (*ssh.Client, error) {
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey))
	if err != nil {
		return nil, fmt.Errorf("recorded host key: %w", err)
	}
	_, addr := addrs(h.Index)
	target := net.JoinHostPort(addr.String(), "22")
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		Timeout:         5 * time.Second,
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, target, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// ExitError is a command on a lab host that ran and exited non-zero.
type ExitError struct {
	Host   string
	Cmd    string
	Code   int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("lab: host %s: %s: exit status %d", e.Host, e.Cmd, e.Code)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

// runOn runs cmd (a shell command line) on an open connection.
func runOn(ctx context.Context, c *ssh.Client, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	s, err := c.NewSession()
	if err != nil {
		return -1, err
	}
	defer s.Close()
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stderr
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-done:
		}
	}()
	err = s.Run(cmd)
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		return ee.ExitStatus(), nil
	case ctx.Err() != nil:
		return -1, ctx.Err()
	default:
		return -1, err
	}
}

// output runs cmd and returns its stdout; a non-zero exit is an *ExitError.
func output(ctx context.Context, c *ssh.Client, host, cmd string) (string, error) {
	var out, errb bytes.Buffer
	code, err := runOn(ctx, c, cmd, nil, &out, &errb)
	if err != nil {
		return out.String(), fmt.Errorf("lab: host %s: %s: %w", host, cmd, err)
	}
	if code != 0 {
		return out.String(), &ExitError{Host: host, Cmd: cmd, Code: code, Stderr: errb.String()}
	}
	return out.String(), nil
}

// shellQuote joins argv into a command line the remote shell splits back
// into exactly argv.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// writeSSHFiles writes ssh_config and known_hosts for every host in the
// state, so `ssh -F DIR/ssh_config NAME` works with strict host key
// checking. known_hosts names each key by address and by name: OpenSSH
// looks up the HostName, other clients may look up the alias.
func writeSSHFiles(dir string, st *labState) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	var cfg, kh strings.Builder
	fmt.Fprintf(&cfg, "# Written by deptool-lab for lab %s; removed by 'deptool-lab down --state %s'.\n", st.ID, abs)
	for _, h := range st.Hosts {
		if h.Index == 0 || h.HostKey == "" {
			continue
		}
		_, addr := addrs(h.Index)
		fmt.Fprintf(&cfg, "\nHost %s\n", h.Name)
		fmt.Fprintf(&cfg, "  HostName %s\n", addr)
		fmt.Fprintf(&cfg, "  User root\n")
		fmt.Fprintf(&cfg, "  IdentityFile %s\n", configPath(filepath.Join(abs, clientKeyFile)))
		fmt.Fprintf(&cfg, "  IdentitiesOnly yes\n")
		fmt.Fprintf(&cfg, "  UserKnownHostsFile %s\n", configPath(filepath.Join(abs, knownHostsFile)))
		fmt.Fprintf(&cfg, "  StrictHostKeyChecking yes\n")
		fields := strings.Fields(h.HostKey)
		fmt.Fprintf(&kh, "%s,%s %s %s\n", addr, h.Name, fields[0], fields[1])
	}
	if err := writeFileAtomic(filepath.Join(dir, knownHostsFile), []byte(kh.String()), 0o644); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, sshConfigFile), []byte(cfg.String()), 0o644)
}

func configPath(p string) string {
	if strings.ContainsAny(p, " \t") {
		return `"` + p + `"`
	}
	return p
}
