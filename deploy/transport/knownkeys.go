package transport

import (
	"golang.org/x/crypto/ssh"
)

// KnownHostKeys returns the host keys known_hosts holds for a host, as its
// ssh_config resolves it (HostName, Port, UserKnownHostsFile): the keys
// deptool would accept when it connects, so the keys secrets for it are
// encrypted to. @cert-authority lines are left out: a CA's key is not the
// host's. None, without error, when the host is not known. Offline.
func KnownHostKeys(host string, opts Options) ([]ssh.PublicKey, error) {
	r, err := newResolver(opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	route, err := r.route(host)
	if err != nil {
		return nil, err
	}
	h := route[len(route)-1]
	k, err := loadHostKeys(h, func(string) {})
	if err != nil || k.db == nil {
		return nil, err
	}
	var out []ssh.PublicKey
	for _, key := range k.db.HostKeys(h.addr()) {
		if !key.Cert {
			out = append(out, key.PublicKey)
		}
	}
	return out, nil
}
