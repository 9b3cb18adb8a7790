// Package simfleet serves a fleet of simulated hosts through real SSH, in
// one process, to measure the operator at scale: each host is an SSH
// server (golang.org/x/crypto/ssh) on its own port of 127.0.0.1, with its
// own ed25519 host key, and runs the real agent (agent.Serve) on its own
// root directory with a simulated systemd (internal/simsystemd, through
// internal/simhost) when the operator starts it. The operator reaches
// them through an ssh_config and known_hosts the fleet writes
// (DEPTOOL_SSH_CONFIG), so a measured deploy includes the TCP connection,
// the key exchange, the host key check, the login, the agent's upload on
// first contact and the whole protocol.
//
// The commands the operator sends (deploy/session.go) are answered as a
// host's shell would: the start command finds the agent by its path or
// exits 97 with the host's `uname -sm`; the upload script receives exactly
// the bytes it names, checks their BLAKE2b against the one it was sent,
// and installs the file. Any other command fails with status 127.
package simfleet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deptool/deptool/deploy/agent"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/internal/simhost"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/ssh"
)

// Fleet is a running simulated fleet.
type Fleet struct {
	// ConfigFile and KnownHosts are the operator's ssh_config (for
	// DEPTOOL_SSH_CONFIG) and known_hosts; KeyFile its private key.
	ConfigFile, KnownHosts, KeyFile string

	dir   string
	sim   *simhost.Fleet
	hosts map[string]*host

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type host struct {
	name   string
	sim    *simhost.Host
	ln     net.Listener
	config *ssh.ServerConfig
	key    ssh.PublicKey // the host key, for known_hosts
}

// Start makes the hosts under dir and serves them until Close.
func Start(dir string, names []string) (*Fleet, error) {
	opPub, opPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	opKey, err := ssh.NewPublicKey(opPub)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(opPriv, "deptool-lab sim operator")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fleet{
		dir: dir, sim: simhost.New(filepath.Join(dir, "hosts"), nil), hosts: map[string]*host{},
		ConfigFile: filepath.Join(dir, "ssh_config"), KnownHosts: filepath.Join(dir, "known_hosts"),
		KeyFile: filepath.Join(dir, "id_ed25519"), ctx: ctx, cancel: cancel,
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.KeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	authorized := opKey.Marshal()
	var cfg, known bytes.Buffer
	for _, name := range names {
		h, err := f.add(name, authorized)
		if err != nil {
			f.Close()
			return nil, err
		}
		port := h.ln.Addr().(*net.TCPAddr).Port
		fmt.Fprintf(&cfg, "Host %s\n  HostName 127.0.0.1\n  Port %d\n", name, port)
		fmt.Fprintf(&known, "[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(h.key))
	}
	fmt.Fprintf(&cfg, "Host *\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n", f.KeyFile, f.KnownHosts)
	if err := os.WriteFile(f.ConfigFile, cfg.Bytes(), 0o644); err != nil {
		f.Close()
		return nil, err
	}
	if err := os.WriteFile(f.KnownHosts, known.Bytes(), 0o644); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *Fleet) add(name string, authorized []byte) (*host, error) {
	sh, err := f.sim.Add(name)
	if err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	// The operator's key may log in, and so, as on a real host, sign
	// deploys to it: the agent checks signatures against authorized_keys.
	pub, err := ssh.ParsePublicKey(authorized)
	if err != nil {
		return nil, err
	}
	sshDir := filepath.Join(sh.Root, "root", ".ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(sshDir, "authorized_keys"), ssh.MarshalAuthorizedKey(pub), 0o600); err != nil {
		return nil, err
	}
	h := &host{name: name, sim: sh, key: signer.PublicKey()}
	h.config = &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == "root" && bytes.Equal(k.Marshal(), authorized) {
				return nil, nil
			}
			return nil, fmt.Errorf("unknown key for %s", c.User())
		},
	}
	h.config.AddHostKey(signer)
	if h.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("host %s: %w (raise ulimit -n: one descriptor per host)", name, err)
	}
	f.hosts[name] = h
	f.wg.Add(1)
	go f.accept(h)
	return h, nil
}

// Preinstall puts the agent at bin on every host, as the first deploy
// would have: a symlink to bin at the path of its build, so 10,000 hosts
// do not each hold a copy. It returns the build.
func (f *Fleet) Preinstall(bin string) (string, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	build := buildOf(data)
	for _, h := range f.hosts {
		p := filepath.Join(h.sim.Root, wire.AgentPath(build))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		os.Remove(p)
		if err := os.Symlink(bin, p); err != nil {
			return "", err
		}
	}
	return build, nil
}

// buildOf is the build an agent binary reports: see wire.BuildHash.
func buildOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:12]
}

// Root is a host's root directory.
func (f *Fleet) Root(name string) string { return f.hosts[name].sim.Root }

// Close stops serving, cancels the agents and waits, a few seconds at
// most, for them to end: an agent mid-apply finishes it first.
func (f *Fleet) Close() {
	f.cancel()
	for _, h := range f.hosts {
		h.ln.Close()
	}
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

func (f *Fleet) accept(h *host) {
	defer f.wg.Done()
	for {
		nc, err := h.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.serve(h, nc)
		}()
	}
}

func (f *Fleet) serve(h *host, nc net.Conn) {
	defer nc.Close()
	stop := context.AfterFunc(f.ctx, func() { nc.Close() })
	defer stop()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(nc, h.config)
	if err != nil {
		return
	}
	nc.SetDeadline(time.Time{})
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	var sessions sync.WaitGroup
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			f.session(h, ch, creqs)
		}()
	}
	sessions.Wait()
}

// session answers one session's requests: the first exec runs.
func (f *Fleet) session(h *host, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	done := make(chan uint32, 1)
	started := false
	for {
		select {
		case req, ok := <-reqs:
			if !ok {
				return
			}
			if req.Type != "exec" || started {
				// keepalives, env, signals: a dead session's signal
				// is answered by its closing.
				if req.WantReply {
					req.Reply(false, nil)
				}
				continue
			}
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			started = true
			go func() { done <- f.exec(h, ch, payload.Command) }()
		case status := <-done:
			ch.CloseWrite()
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], status)
			ch.SendRequest("exit-status", false, b[:])
			return
		}
	}
}

var (
	startRe  = regexp.MustCompile(`\[ -x (\S+) \] \|\| \{ uname -sm >&2; exit (\d+); \}; exec (\S+) agent$`)
	execRe   = regexp.MustCompile(`; exec (\S+) agent$`)
	headRe   = regexp.MustCompile(`(?m)^head -c (\d+) > "\$t"$`)
	chmodRe  = regexp.MustCompile(`(?m)^chmod (\d+) "\$t"$`)
	wantRe   = regexp.MustCompile(`sum=b2sum want=([0-9a-f]+);`)
	mvRe     = regexp.MustCompile(`(?m)^mv -f -T -- "\$t" '?([^' ]+)'?$`)
	uploadRe = regexp.MustCompile(`(?m)^set -e$`)
)

// exec runs one command line as the host's shell would, for the commands
// the operator sends, and returns its exit status.
func (f *Fleet) exec(h *host, ch ssh.Channel, cmd string) uint32 {
	if uploadRe.MatchString(cmd) {
		if status := f.upload(h, ch, cmd); status != 0 {
			return status
		}
		m := execRe.FindStringSubmatch(cmd)
		if m == nil {
			return 0
		}
		return f.agent(h, ch, m[1])
	}
	if m := startRe.FindStringSubmatch(cmd); m != nil && m[1] == m[3] {
		if _, err := os.Stat(filepath.Join(h.sim.Root, m[1])); err != nil {
			fmt.Fprintln(ch.Stderr(), "Linux x86_64")
			n, _ := strconv.Atoi(m[2])
			return uint32(n)
		}
		return f.agent(h, ch, m[1])
	}
	fmt.Fprintf(ch.Stderr(), "sh: deptool-lab sim does not run this command: %.80q\n", cmd)
	return 127
}

func (f *Fleet) upload(h *host, ch ssh.Channel, cmd string) uint32 {
	head, mode, want, dst := headRe.FindStringSubmatch(cmd), chmodRe.FindStringSubmatch(cmd), wantRe.FindStringSubmatch(cmd), mvRe.FindStringSubmatch(cmd)
	if head == nil || mode == nil || want == nil || dst == nil {
		fmt.Fprintln(ch.Stderr(), "sh: deptool-lab sim does not know this upload script")
		return 2
	}
	n, _ := strconv.Atoi(head[1])
	perm, _ := strconv.ParseUint(mode[1], 8, 32)
	data := make([]byte, n)
	got, _ := io.ReadFull(ch, data)
	sum := blake2b.Sum512(data[:got])
	if s := hex.EncodeToString(sum[:]); s != want[1] {
		fmt.Fprintf(ch.Stderr(), "b2sum on the host is %s, sent %s: the transfer was corrupted or cut short\n", s, want[1])
		return 1
	}
	p := filepath.Join(h.sim.Root, dst[1])
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		fmt.Fprintln(ch.Stderr(), err)
		return 1
	}
	if err := os.WriteFile(p, data, os.FileMode(perm)); err != nil {
		fmt.Fprintln(ch.Stderr(), err)
		return 1
	}
	return 0
}

// agent serves the protocol on the session as the agent at path: the
// build is the one its name says, as wire.BuildHash reads it on a host.
func (f *Fleet) agent(h *host, ch ssh.Channel, path string) uint32 {
	build, ok := strings.CutPrefix(filepath.Base(path), "deptool-"+wire.Version+"-")
	if !ok {
		fmt.Fprintf(ch.Stderr(), "%s: not a deptool agent\n", path)
		return 126
	}
	opts := h.sim.Agent
	opts.Build = build
	if err := agent.Serve(f.ctx, ch, ch, opts); err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(ch.Stderr(), err)
		return 1
	}
	return 0
}
