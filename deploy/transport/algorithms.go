package transport

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// algoOptions are the algorithm lists deptool honours when the operator
// changed them: it then offers only what the list allows (in deptool's
// order where it has one), so a hardened config stays hardened. OpenSSH's
// defaults name a few algorithms Go's SSH does not implement
// (sntrup761x25519, umac): those are dropped quietly when the list is
// OpenSSH's; one the operator added and deptool cannot speak is an error.
var algoOptions = []string{"kexalgorithms", "ciphers", "macs", "hostkeyalgorithms"}

// algorithms are a hop's allowed lists, keyed as algoOptions; absent when
// the config leaves a list at OpenSSH's default.
type algorithms map[string][]string

func goSupports(option string) []string {
	s, i := ssh.SupportedAlgorithms(), ssh.InsecureAlgorithms()
	switch option {
	case "kexalgorithms":
		return append(s.KeyExchanges, i.KeyExchanges...)
	case "ciphers":
		return append(s.Ciphers, i.Ciphers...)
	case "macs":
		return append(s.MACs, i.MACs...)
	}
	return append(s.HostKeys, i.HostKeys...)
}

// allowedAlgorithms checks the lists `ssh -G` printed against OpenSSH's
// defaults and Go's SSH.
func allowedAlgorithms(alias, file string, g, defaults map[string][]string) (algorithms, error) {
	a := algorithms{}
	for _, k := range algoOptions {
		if slices.Equal(g[k], defaults[k]) || len(g[k]) == 0 {
			continue
		}
		list := strings.Split(strings.Join(g[k], ","), ",")
		def := strings.Split(strings.Join(defaults[k], ","), ",")
		var keep []string
		for _, alg := range list {
			switch {
			case slices.Contains(goSupports(k), alg):
				keep = append(keep, alg)
			case !slices.Contains(def, alg):
				return nil, &UnsupportedOptionError{Host: alias, Option: optionName(k), File: file,
					Value: "(adds " + alg + ")"}
			}
		}
		if len(keep) == 0 {
			return nil, &UnsupportedOptionError{Host: alias, Option: optionName(k), File: file,
				Value: "(allows only " + strings.Join(list, ",") + ")"}
		}
		a[k] = keep
	}
	return a, nil
}

// restrict orders what deptool would offer by its preference and keeps
// what the list allows; without a list, the preference stands.
func restrict(preferred, allowed []string) []string {
	if allowed == nil {
		return preferred
	}
	var out []string
	for _, p := range preferred {
		if slices.Contains(allowed, p) {
			out = append(out, p)
		}
	}
	for _, a := range allowed {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// clientConfig is the negotiation part of a hop's SSH config; nil lists
// are Go's defaults.
func (h *hop) clientConfig() ssh.Config {
	return ssh.Config{
		KeyExchanges: restrict(kexPreference, h.Algorithms["kexalgorithms"]),
		Ciphers:      h.Algorithms["ciphers"],
		MACs:         h.Algorithms["macs"],
	}
}

// hostKeyAlgorithms narrows the host key types to offer by HostKeyAlgorithms.
func (h *hop) hostKeyAlgorithms(offer []string) ([]string, error) {
	allowed := h.Algorithms["hostkeyalgorithms"]
	if allowed == nil {
		return offer, nil
	}
	var out []string
	for _, a := range offer {
		if slices.Contains(allowed, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("host %s: HostKeyAlgorithms allows none of %s, the host key types deptool would accept for it (from known_hosts)",
			h.where(), strings.Join(offer, ","))
	}
	return out, nil
}
