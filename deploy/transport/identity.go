package transport

// IdentityFiles are the identity files ssh would offer when logging in
// to alias (ssh -G's IdentityFile, or OpenSSH's defaults), expanded, in
// order: the keys a deploy signs with when ssh-agent holds none.
func IdentityFiles(opts Options, alias string) ([]string, error) {
	r, err := newResolver(opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	h, err := r.hop(alias)
	if err != nil {
		return nil, err
	}
	return h.Identities, nil
}
