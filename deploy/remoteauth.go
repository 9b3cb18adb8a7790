package deploy

import (
	"net"
	"strconv"

	"github.com/deptool/deptool/deploy/transport"
	"github.com/deptool/deptool/store"
	gittransport "github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh"
)

// RemoteSSH makes the store reach an ssh:// (or host:path) remote the way
// deploy reaches hosts: through DEPTOOL_SSH_CONFIG (ssh -G), its
// known_hosts files, identity files and agent. go-git still speaks Git
// over the connection; it dials the address deptool resolved. Other URLs
// get go-git's own transport. Pass it to the store's exchanges with its
// remote (Fetch, Push, Sync); the transaction does.
func RemoteSSH(url string) (store.RemoteLogin, error) {
	ep, err := gittransport.NewEndpoint(url)
	if err != nil || ep.Protocol != "ssh" {
		return store.RemoteLogin{}, nil
	}
	r, err := transport.DialRemote(ep.Host, ep.User, transport.Options{})
	if err != nil {
		return store.RemoteLogin{}, err
	}
	addr := r.Addr
	if ep.Port > 0 && ep.Port != 22 {
		// A port in the URL wins over the config's, as with ssh -p.
		host, _, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort(host, strconv.Itoa(ep.Port))
	}
	return store.RemoteLogin{Auth: &remoteLogin{config: r.Config}, Addr: addr, Done: r.Close}, nil
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
