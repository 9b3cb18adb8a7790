package store

import (
	"context"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/google/go-cmp/cmp"
)

// The address a RemoteAuth resolves is where go-git dials; the user and
// the path stay the URL's, a relative one (host:repo.git, in the login's
// home) included.
func TestDialAtKeepsUserAndPath(t *testing.T) {
	cases := []struct {
		url, addr string
		want      transport.Endpoint
	}{
		{"ssh://tgit/srv/team.git", "198.18.0.5:22", transport.Endpoint{Protocol: "ssh", Host: "198.18.0.5", Port: 22, Path: "/srv/team.git"}},
		{"ssh://git@tgit:2200/srv/team.git", "198.18.0.5:2222", transport.Endpoint{Protocol: "ssh", User: "git", Host: "198.18.0.5", Port: 2222, Path: "/srv/team.git"}},
		{"git@tgit:team.git", "198.18.0.5:2222", transport.Endpoint{Protocol: "ssh", User: "git", Host: "198.18.0.5", Port: 2222, Path: "team.git"}},
		{"tgit:/srv/team.git", "tgit.example:22", transport.Endpoint{Protocol: "ssh", Host: "tgit.example", Port: 22, Path: "/srv/team.git"}},
		{"ssh://tgit/srv/a%20b.git", "198.18.0.5:2222", transport.Endpoint{Protocol: "ssh", Host: "198.18.0.5", Port: 2222, Path: "/srv/a b.git"}},
	}
	for _, c := range cases {
		ep, err := transport.NewEndpoint(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if err := dialAt(ep, c.addr); err != nil {
			t.Fatalf("%s at %s: %v", c.url, c.addr, err)
		}
		u, err := endpointURL(ep)
		if err != nil {
			t.Fatalf("%s at %s: %v", c.url, c.addr, err)
		}
		got, err := transport.NewEndpoint(u)
		if err != nil {
			t.Fatalf("%s at %s: %s does not parse: %v", c.url, c.addr, u, err)
		}
		if diff := cmp.Diff(c.want, *got, cmp.AllowUnexported(transport.Endpoint{})); diff != "" {
			t.Errorf("%s at %s dials %s (-want +got):\n%s", c.url, c.addr, u, diff)
		}
	}
	ep, _ := transport.NewEndpoint("ssh://tgit/srv/team.git")
	if err := dialAt(ep, "[fd00::5]:22"); err != nil {
		t.Fatal(err)
	}
	if u, err := endpointURL(ep); err == nil || !strings.Contains(err.Error(), "IPv6") {
		t.Errorf("an IPv6 address: %q, %v; want an error naming IPv6", u, err)
	}
}

// Each exchange asks the RemoteAuth it is given, with the remote's URL,
// and ends the login it got: no process-wide hook decides.
func TestExchangesUseTheAuthTheyAreGiven(t *testing.T) {
	remote := bareRemote(t)
	s := initStore(t)
	deployTo(t, s, "web1", t0)
	var asked []string
	done := 0
	auth := func(url string) (RemoteLogin, error) {
		asked = append(asked, url)
		return RemoteLogin{Done: func() { done++ }}, nil
	}
	ctx := context.Background()
	if _, err := s.Sync(ctx, remote, auth); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(ctx, remote, nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{remote, remote}; !cmp.Equal(asked, want) || done != 2 {
		t.Errorf("a sync asked %q and ended %d logins; want %q, 2 (a fetch and a push)", asked, done, want)
	}
}
