package transport

import (
	"fmt"

	"golang.org/x/crypto/ssh"
)

// Remote is how to reach a Git remote over SSH the way deptool reaches its
// hosts: the same ssh_config (DEPTOOL_SSH_CONFIG, through ssh -G), its
// known_hosts files and StrictHostKeyChecking, its identity files,
// certificates and agent. Git speaks over the connection itself (go-git's
// SSH client): Remote only says where to dial and how to log in.
type Remote struct {
	// Addr is host:port to dial, from HostName and Port.
	Addr string
	// Config checks the host key and logs in.
	Config *ssh.ClientConfig
	rings  *keyrings
}

// Close lets go of the ssh-agent connection the login signs through; call
// it once the exchange is over.
func (r *Remote) Close() { r.rings.Close() }

// DialRemote resolves alias (the host of an ssh:// URL) for a Git remote.
// user, when not empty (the URL's), replaces the config's User. A remote
// behind ProxyJump or ProxyCommand is refused with what to do: Git's
// connection is a single TCP one.
func DialRemote(alias, user string, opts Options) (*Remote, error) {
	r, err := newResolver(opts.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", alias, err)
	}
	h, err := r.hop(alias)
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", alias, err)
	}
	if h.ProxyJump != "" || h.ProxyCommand != "" {
		return nil, fmt.Errorf("remote %s: its ssh config sets ProxyJump or ProxyCommand, which the store's remote cannot go through: give the remote a URL reachable directly, or a path on a mounted file system", alias)
	}
	if user != "" {
		h.User = user
	}
	keys, err := loadHostKeys(h, opts.notify)
	if err != nil {
		return nil, err
	}
	keys.sshTo = r.sshTo(alias)
	rings := &keyrings{opts: opts}
	creds, err := loadCredentials(h, rings.get(h))
	if err != nil {
		rings.Close()
		return nil, err
	}
	algos, err := h.hostKeyAlgorithms(keys.algorithms())
	if err != nil {
		rings.Close()
		return nil, err
	}
	return &Remote{
		Addr: h.addr(),
		Config: &ssh.ClientConfig{
			Config:            h.clientConfig(),
			User:              h.User,
			Auth:              []ssh.AuthMethod{ssh.PublicKeys(creds.signers...)},
			HostKeyCallback:   keys.callback,
			HostKeyAlgorithms: algos,
			Timeout:           h.ConnectTimeout,
		},
		rings: rings,
	}, nil
}
