package main

import (
	"net"
	"strconv"
	"sync"

	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/store"
	gittransport "github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// sshRemoteAuth makes the store reach an ssh:// (or host:path) remote the
// way deploy reaches hosts: through DEPTOOL_SSH_CONFIG (ssh -G), its
// known_hosts files, identity files and agent. go-git still speaks Git
// over the connection; it dials the address deptool resolved.
func sshRemoteAuth(url string) (gittransport.AuthMethod, func(), error) {
	ep, err := gittransport.NewEndpoint(url)
	if err != nil || ep.Protocol != "ssh" {
		return nil, nil, nil // not SSH: go-git's own transport
	}
	r, err := transport.DialRemote(ep.Host, ep.User, transport.Options{})
	if err != nil {
		return nil, nil, err
	}
	addr := r.Addr
	if ep.Port > 0 && ep.Port != 22 {
		// A port in the URL wins over the config's, as with ssh -p.
		host, _, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort(host, strconv.Itoa(ep.Port))
	}
	remoteAddrs.set(ep.Host, addr)
	return &remoteLogin{config: r.Config}, r.Close, nil
}

// remoteLogin is a go-git SSH auth method with deptool's client config:
// its user, keys and host key check.
type remoteLogin struct{ config *ssh.ClientConfig }

func (l *remoteLogin) Name() string { return "deptool-ssh" }
func (l *remoteLogin) String() string {
	return "user " + l.config.User + " through deptool's ssh config"
}

// ClientConfig returns a copy: go-git fills in fields of the one it gets.
func (l *remoteLogin) ClientConfig() (*ssh.ClientConfig, error) {
	c := *l.config
	return &c, nil
}

// addrs answers go-git's ssh_config questions (HostName, Port) with the
// address deptool resolved for the host, so go-git dials where deptool
// would; hosts deptool did not resolve get no answer, and go-git dials
// the URL as written.
type addrs struct {
	mu sync.Mutex
	m  map[string]string
}

func (a *addrs) set(alias, addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]string{}
	}
	a.m[alias] = addr
}

func (a *addrs) Get(alias, key string) string {
	a.mu.Lock()
	addr, ok := a.m[alias]
	a.mu.Unlock()
	if !ok {
		return ""
	}
	host, port, _ := net.SplitHostPort(addr)
	switch key {
	case "Hostname":
		return host
	case "Port":
		return port
	}
	return ""
}

var remoteAddrs = &addrs{}

// installRemoteSSH routes the store's SSH remotes through deptool's SSH
// layer (see sshRemoteAuth).
func installRemoteSSH() {
	gitssh.DefaultSSHConfig = remoteAddrs
	store.SetRemoteAuth(sshRemoteAuth)
}
