package transport

import (
	"strings"
	"testing"
)

func TestParseJumps(t *testing.T) {
	for in, want := range map[string][]jump{
		"bastion":                      {{Host: "bastion"}},
		"ops@bastion:2022":             {{User: "ops", Host: "bastion", Port: 2022}},
		"a, b@c":                       {{Host: "a"}, {User: "b", Host: "c"}},
		"ssh://ops@bastion:2022":       {{User: "ops", Host: "bastion", Port: 2022}},
		"ssh://bastion":                {{Host: "bastion"}},
		"[2001:db8::1]:2022":           {{Host: "2001:db8::1", Port: 2022}},
		"2001:db8::1":                  {{Host: "2001:db8::1"}},
		"me@[2001:db8::1]":             {{User: "me", Host: "2001:db8::1"}},
		"first.example.com,10.0.0.1:7": {{Host: "first.example.com"}, {Host: "10.0.0.1", Port: 7}},
	} {
		got, err := parseJumps(in)
		if err != nil {
			t.Errorf("parseJumps(%q): %v", in, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("parseJumps(%q) = %+v, want %+v", in, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("parseJumps(%q)[%d] = %+v, want %+v", in, i, got[i], want[i])
			}
		}
	}
	for _, bad := range []string{"", "a,,b", "host:99999", "host:x", ":22", "ssh://h/path"} {
		if _, err := parseJumps(bad); err == nil {
			t.Errorf("parseJumps(%q): no error", bad)
		}
	}
}

const jumpConfig = `
Host web2
  HostName 198.18.2.2
  ProxyJump web1

Host web1
  HostName 198.18.1.2
  User root

Host deep
  HostName 10.9.9.9
  ProxyJump ops@inner:2022,web1

Host inner
  HostName 10.1.1.1
  User nobody
  ProxyJump outer

Host outer
  HostName 203.0.113.7

Host loop1
  ProxyJump loop2
Host loop2
  ProxyJump loop1

Host direct
  ProxyJump none
`

func routeString(route []*hop) string {
	var parts []string
	for _, h := range route {
		s := h.User + "@" + h.addr()
		if h.Via != "" {
			s += "<" + h.Via
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " -> ")
}

func TestRoutes(t *testing.T) {
	r := testResolver(t, jumpConfig)
	for host, want := range map[string]string{
		"web1":   "root@198.18.1.2:22",
		"web2":   "root@198.18.1.2:22 -> alice@198.18.2.2:22<web1",
		"direct": "alice@direct:22",
		// inner's own ProxyJump (outer) is honoured since it comes first;
		// the spec's user and port override inner's config.
		"deep": "alice@203.0.113.7:22 -> ops@10.1.1.1:2022<outer -> root@198.18.1.2:22<inner -> alice@10.9.9.9:22<web1",
	} {
		route, err := r.route(host)
		if err != nil {
			t.Errorf("route(%s): %v", host, err)
			continue
		}
		if got := routeString(route); got != want {
			t.Errorf("route(%s) = %s\nwant %s", host, got, want)
		}
	}
}

func TestRouteLoopIsAnError(t *testing.T) {
	r := testResolver(t, jumpConfig)
	_, err := r.route("loop1")
	if err == nil || !strings.Contains(err.Error(), "loop") {
		t.Fatalf("route(loop1) = %v, want an error about a loop", err)
	}
}

func TestWhere(t *testing.T) {
	r := testResolver(t, jumpConfig)
	route, err := r.route("web2")
	if err != nil {
		t.Fatal(err)
	}
	if got := route[1].where(); got != "198.18.2.2:22 via web1" {
		t.Errorf("where = %q", got)
	}
}
