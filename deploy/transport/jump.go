package transport

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// maxHops bounds a route, so a ProxyJump loop in the config is an error
// instead of a hang.
const maxHops = 8

// jump is one entry of ProxyJump: [user@]host[:port] or
// ssh://[user@]host[:port]. User and Port, when given, override the
// config's values for that host.
type jump struct {
	User string
	Host string
	Port int
}

func parseJumps(v string) ([]jump, error) {
	var jumps []jump
	for _, s := range strings.Split(v, ",") {
		j, err := parseJump(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("ProxyJump %q: %w", v, err)
		}
		jumps = append(jumps, j)
	}
	return jumps, nil
}

func parseJump(s string) (jump, error) {
	if s == "" {
		return jump{}, fmt.Errorf("empty jump host")
	}
	if strings.HasPrefix(s, "ssh://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return jump{}, fmt.Errorf("%q is not ssh://[user@]host[:port]", s)
		}
		s = u.Host
		if u.User != nil {
			s = u.User.Username() + "@" + s
		}
	}
	var j jump
	if i := strings.LastIndex(s, "@"); i >= 0 {
		j.User, s = s[:i], s[i+1:]
	}
	host, port, err := splitHostPort(s)
	if err != nil {
		return jump{}, err
	}
	j.Host, j.Port = host, port
	return j, nil
}

// splitHostPort accepts host, host:port, [v6] and [v6]:port; a bare IPv6
// address has no port.
func splitHostPort(s string) (string, int, error) {
	if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
		return s, 0, nil
	}
	if !strings.Contains(s, ":") {
		return strings.Trim(s, "[]"), 0, nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return s[1 : len(s)-1], 0, nil
	}
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", s, err)
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, fmt.Errorf("%q: %q is not a port number", s, ps)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%q has no host", s)
	}
	return host, p, nil
}

// route resolves a host into the hops to connect through, first to last.
// A ProxyJump chain a,b,c is connected in that order; the first jump's
// own ProxyJump is honoured too (as `ssh -J` does), the others' are not,
// since the chain already says how they are reached.
func (r *resolver) route(alias string) ([]*hop, error) {
	route, err := r.routeFrom(alias, nil, 0)
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(route); i++ {
		route[i].Via = route[i-1].Alias
	}
	return route, nil
}

func (r *resolver) routeFrom(alias string, spec *jump, depth int) ([]*hop, error) {
	if depth >= maxHops {
		return nil, fmt.Errorf("host %s: ssh config %s: more than %d ProxyJump hops: is there a loop?", alias, r.file, maxHops)
	}
	last, err := r.jumpHop(alias, spec)
	if err != nil || last.ProxyJump == "" {
		return []*hop{last}, err
	}
	jumps, err := parseJumps(last.ProxyJump)
	if err != nil {
		return nil, fmt.Errorf("host %s: ssh config %s: %w", alias, r.file, err)
	}
	route, err := r.routeFrom(jumps[0].Host, &jumps[0], depth+1)
	if err != nil {
		return nil, err
	}
	for i := range jumps[1:] {
		j := &jumps[1+i]
		h, err := r.jumpHop(j.Host, j)
		if err != nil {
			return nil, err
		}
		h.ProxyCommand, h.ProxyJump = "", ""
		route = append(route, h)
	}
	if len(route)+1 > maxHops {
		return nil, fmt.Errorf("host %s: ssh config %s: more than %d ProxyJump hops", alias, r.file, maxHops)
	}
	return append(route, last), nil
}

// jumpHop resolves a host, applying a jump spec's user and port. A host
// later in a ProxyJump chain is reached through the one before it, so its
// own ProxyCommand does not apply (as with `ssh -J`).
func (r *resolver) jumpHop(alias string, spec *jump) (*hop, error) {
	return r.lookup(alias, spec)
}
