package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// kexPreference puts the cheap elliptic-curve exchanges first and leaves
// out the finite-field Diffie-Hellman groups, which cost milliseconds of
// CPU per connection and only ancient servers need. The ML-KEM hybrid
// leads: it costs about as little as curve25519 alone and protects
// recorded traffic against a future quantum computer; a server without
// it (OpenSSH before 9.9) agrees on curve25519.
var kexPreference = []string{
	ssh.KeyExchangeMLKEM768X25519,
	ssh.KeyExchangeCurve25519,
	ssh.KeyExchangeECDHP256,
	ssh.KeyExchangeECDHP384,
	ssh.KeyExchangeECDHP521,
}

// Dial connects to a host named as in the config tree, resolving it
// through ssh_config and connecting through its ProxyJump hosts or its
// ProxyCommand, if any. The context bounds the whole set-up, and each
// hop's ConnectTimeout (default 10 s) bounds that hop; once Dial returns,
// the context no longer matters. A login user other than root must be
// able to become root (see Options.Become): Dial checks it.
func Dial(ctx context.Context, host string, opts Options) (*Conn, error) {
	r, err := newResolver(opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	route, err := r.route(host)
	if err != nil {
		return nil, err
	}
	rings := &keyrings{opts: opts}
	defer rings.Close()
	var clients []*ssh.Client
	for i, h := range route {
		var via *ssh.Client
		if i > 0 {
			via = clients[i-1]
		}
		c, err := dialHop(ctx, via, h, rings.get(h), opts, jumpCommand(r, route, i), r.sshTo(h.Alias))
		if err != nil {
			closeClients(clients)
			if i < len(route)-1 {
				// The caller names the host it asked for, not this one.
				return nil, fmt.Errorf("jump host %s: %w", h.Alias, err)
			}
			return nil, err
		}
		clients = append(clients, c)
	}
	return newConn(ctx, host, route[len(route)-1], clients, opts)
}

// jumpCommand is how the operator would reach hop i's jump host with
// OpenSSH, for instructions that must run there.
func jumpCommand(r *resolver, route []*hop, i int) string {
	if i == 0 {
		return ""
	}
	return r.sshTo(route[i-1].Alias)
}

// sshTo is the OpenSSH command line that reaches a host as deptool does.
func (r *resolver) sshTo(alias string) string {
	cmd := "ssh"
	if r.explicit {
		cmd += " -F " + shellQuote(r.file)
	}
	return cmd + " " + shellQuote(alias)
}

func closeClients(clients []*ssh.Client) {
	for i := len(clients) - 1; i >= 0; i-- {
		clients[i].Close()
	}
}

// dialHop opens one hop: TCP (or a channel through the previous hop, or a
// ProxyCommand), key exchange, host key check and login.
func dialHop(ctx context.Context, via *ssh.Client, h *hop, ring *keyring, opts Options, jumpCmd, sshTo string) (*ssh.Client, error) {
	keys, err := loadHostKeys(h, opts.notify)
	if err != nil {
		return nil, err
	}
	keys.sshCmd, keys.sshTo = jumpCmd, sshTo
	hctx, cancel := context.WithTimeout(ctx, h.ConnectTimeout)
	defer cancel()
	creds, err := loadCredentials(h, ring)
	if err != nil {
		// A host that is not in the ssh config does not resolve either,
		// which says more than the missing key does.
		if via == nil && h.ProxyCommand == "" && net.ParseIP(h.HostName) == nil {
			if _, rerr := net.DefaultResolver.LookupHost(hctx, h.HostName); rerr != nil {
				return nil, connectError(ctx, h, rerr)
			}
		}
		return nil, err
	}
	hostAlgos, err := h.hostKeyAlgorithms(keys.algorithms())
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{
		Config:            h.clientConfig(),
		User:              h.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(creds.signers...)},
		HostKeyCallback:   keys.callback,
		HostKeyAlgorithms: hostAlgos,
	}
	var c *ssh.Client
	err = retry(hctx, sleepCtx, func() (bool, error) {
		var transient bool
		c, transient, err = handshake(ctx, hctx, via, h, cfg, keys, creds)
		return transient, err
	})
	return c, err
}

// handshake makes one attempt at a hop. It reports as transient a
// connection refused or reset before the host said who it is: sshd
// restarting, or dropping connections beyond its MaxStartups while many
// are opened at once. Anything after that (host key, login) is not.
func handshake(ctx, hctx context.Context, via *ssh.Client, h *hop, cfg *ssh.ClientConfig, keys *hostKeys, creds *credentials) (*ssh.Client, bool, error) {
	nc, err := connect(hctx, via, h)
	if err != nil {
		return nil, h.ProxyCommand == "" && isTransient(err), connectError(ctx, h, err)
	}
	// The handshake has no context of its own: closing the connection is
	// what stops it when the time is up.
	stop := context.AfterFunc(hctx, func() { nc.Close() })
	c, chans, reqs, err := ssh.NewClientConn(nc, h.addr(), cfg)
	if !stop() {
		if err == nil {
			c.Close()
		}
		terr := timeoutError(ctx, h, "ssh handshake")
		if p, ok := nc.(*proxyConn); ok && p.stderr.String() != "" {
			// A helper waiting for something (a login, MFA) says so there.
			terr = fmt.Errorf("%w; the ProxyCommand said: %s", terr, oneLine(p.stderr.String()))
		}
		return nil, false, terr
	}
	if err != nil {
		// A connection that ended under the handshake, before the host
		// showed its key, may be a ProxyCommand that failed: its exit and
		// stderr say why. The handshake sees that as EOF, a reset or a
		// broken pipe (writing its banner first), whichever comes first.
		// Asked before closing, which would end the command itself.
		if p, ok := nc.(*proxyConn); ok && !keys.checked() {
			if why := p.failure(); why != "" {
				nc.Close()
				return nil, false, fmt.Errorf("%s: %s", h.where(), why)
			}
		}
		nc.Close()
		transient := h.ProxyCommand == "" && !keys.checked() && isTransient(err)
		return nil, transient, handshakeError(h, keys, creds, err)
	}
	return ssh.NewClient(c, chans, reqs), false, nil
}

func connect(ctx context.Context, via *ssh.Client, h *hop) (net.Conn, error) {
	switch {
	case via != nil:
		return via.DialContext(ctx, "tcp", h.addr())
	case h.ProxyCommand != "":
		return dialProxy(ctx, h)
	}
	var d net.Dialer
	network := h.Network
	if network == "" {
		network = "tcp"
	}
	return d.DialContext(ctx, network, h.addr())
}

func connectError(ctx context.Context, h *hop, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || isTimeout(err) {
		return timeoutError(ctx, h, "connect")
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if h.Via == "" && h.ProxyCommand == "" && dns.Name == h.Alias {
			// The name the caller gave, unchanged by the config: the
			// caller names it once, so this error does not.
			return fmt.Errorf("connect: the name does not resolve (%v): is the host in the ssh config, with the right HostName?", dns.Err)
		}
		return fmt.Errorf("%s: connect: cannot resolve %s: %v: is the host in the ssh config, with the right HostName?", h.where(), dns.Name, dns.Err)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = errno
	}
	if h.ProxyCommand != "" {
		return fmt.Errorf("%s: ProxyCommand %q: %w", h.where(), h.ProxyCommand, err)
	}
	return fmt.Errorf("%s: connect: %w: is the host up?", h.where(), err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// timeoutError says which limit ran out: the caller's context, or the
// hop's ConnectTimeout.
func timeoutError(ctx context.Context, h *hop, step string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %s: %w", h.where(), step, err)
	}
	return fmt.Errorf("%s: %s: no answer within %v (ConnectTimeout): is the host up?", h.where(), step, h.ConnectTimeout)
}

func handshakeError(h *hop, keys *hostKeys, creds *credentials, err error) error {
	var hke *HostKeyError
	if errors.As(err, &hke) {
		return hke
	}
	if kerr := keys.failure(); kerr != nil {
		return kerr
	}
	msg := strings.TrimPrefix(err.Error(), "ssh: handshake failed: ")
	switch {
	case keys.wasVerified() && strings.Contains(msg, "unable to authenticate"):
		return authError(h, creds)
	case !keys.wasVerified() && len(keys.known) > 0 && strings.Contains(msg, "no common algorithm for host key"):
		return fmt.Errorf("%s: it offers none of the host key types known_hosts has for it (%s): "+
			"its key may have changed; refusing to connect; if the host was reinstalled, remove the old key with: %s",
			h.where(), strings.Join(keys.known, ", "), keys.removeCommand())
	}
	return fmt.Errorf("%s: ssh: %s", h.where(), msg)
}

func authError(h *hop, creds *credentials) error {
	msg := fmt.Sprintf("login as %s refused (tried: %s): check User and IdentityFile in ssh config",
		h.User, strings.Join(creds.tried, ", "))
	if len(creds.notes) > 0 {
		msg += "; also: " + strings.Join(creds.notes, "; ")
	}
	return errors.New(msg)
}
