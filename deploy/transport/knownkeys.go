package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	skh "github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
)

// KnownHostKeys returns the host keys known_hosts holds for a host, as its
// ssh_config resolves it (HostName, Port, UserKnownHostsFile): the keys
// deptool would accept when it connects, so the keys secrets for it are
// encrypted to. @cert-authority lines are left out: a CA's key is not the
// host's. None, without error, when the host is not known. Offline.
func KnownHostKeys(host string, opts Options) ([]ssh.PublicKey, error) {
	k, err := NewKnownHosts(opts)
	if err != nil {
		return nil, err
	}
	return k.Keys(host)
}

// KnownHosts answers KnownHostKeys for many hosts, reading the ssh_config
// once and each set of known_hosts files once: a fleet's secrets are
// checked in one pass, not one parse of everything per host.
type KnownHosts struct {
	r   *resolver
	mu  sync.Mutex
	dbs map[string]*skh.HostKeyDB // by the files' names, NUL-joined
}

// NewKnownHosts reads the ssh_config opts names.
func NewKnownHosts(opts Options) (*KnownHosts, error) {
	r, err := newResolver(opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	return &KnownHosts{r: r, dbs: map[string]*skh.HostKeyDB{}}, nil
}

// Keys is KnownHostKeys for one host.
// It may be called for many hosts at once.
func (k *KnownHosts) Keys(host string) ([]ssh.PublicKey, error) {
	route, err := k.r.route(host)
	if err != nil {
		return nil, err
	}
	h := route[len(route)-1]
	db, err := k.db(h)
	if err != nil || db == nil {
		return nil, err
	}
	var out []ssh.PublicKey
	for _, key := range db.HostKeys(h.addr()) {
		if !key.Cert {
			out = append(out, key.PublicKey)
		}
	}
	return out, nil
}

func (k *KnownHosts) db(h *hop) (*skh.HostKeyDB, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := strings.Join(h.KnownHosts, "\x00")
	if db, ok := k.dbs[key]; ok {
		return db, nil
	}
	var files []string
	for _, f := range h.KnownHosts {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("known hosts: %w", err) // the caller names the host
		}
	}
	var db *skh.HostKeyDB
	if len(files) > 0 {
		var err error
		if db, err = skh.NewDB(files...); err != nil {
			return nil, fmt.Errorf("known hosts: %w", err) // the caller names the host
		}
	}
	k.dbs[key] = db
	return db, nil
}
