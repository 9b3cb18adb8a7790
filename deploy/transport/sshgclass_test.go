package transport

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// countingSSH puts a wrapper around the real ssh client that counts its
// runs, and returns the count's reader.
func countingSSH(t *testing.T, r *resolver) func() int {
	t.Helper()
	log := filepath.Join(t.TempDir(), "runs")
	wrapper := filepath.Join(t.TempDir(), "ssh")
	script := fmt.Sprintf("#!/bin/sh\necho >> %s\nexec %s \"$@\"\n", log, r.ssh)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r.ssh = wrapper
	return func() int {
		b, _ := os.ReadFile(log)
		return strings.Count(string(b), "\n")
	}
}

// classConfig gives hosts the same options through shared blocks, with
// negation, wildcards, an Include, HostName's %h and names in capitals.
const classConfig = `
# a fleet
Host own1
  HostName 10.0.0.1
  Port 2201
Host own*
  User shared
Host own2
  Port 2202
  User bob
Host own3
  HostName Own3.Example
Host web* !web9
  HostName %h.Example.NET
  User deploy
  IdentityFile ~/.ssh/id_%r
Host web9
  Port 2209
Host db? db1?
  Port 5432 # a comment
Host=lb1 lb2
  ProxyCommand nc %h %p
  ControlPath /tmp/cm-%C
Include classes.d/*.conf
Host *
  ServerAliveInterval 9
`

var classHosts = []string{"web1", "web2", "WEB3", "web9", "web10", "db1", "db2", "db12", "db123", "lb1", "lb2", "mail", "other", "x", "own1", "own2", "own3", "own4"}

// Hosts of one class are asked once (and the second once more, to check
// the derivation), and every answer is OpenSSH's own.
func TestSSHGOncePerClassAnswersAsOpenSSH(t *testing.T) {
	r := gResolver(t, classConfig)
	inc := filepath.Join(r.home, ".ssh", "classes.d")
	if err := os.MkdirAll(inc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inc, "mail.conf"), []byte("Host mail\n  User postmaster\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := countingSSH(t, r)
	got := map[string]map[string][]string{}
	for _, h := range classHosts {
		g, err := sshGClassed(r.ssh, r.file, r.explicit, r.home, h)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		got[h] = g
	}
	if c := gConfigFor(r.file, r.explicit, r.home); c.unsafe != "" || c.off.Load() {
		t.Fatalf("classes not used: unsafe %q, off %v", c.unsafe, c.off.Load())
	}
	// Classes: web1 web2 web10 | WEB3 (case matters) | web9 | db1 db2 |
	// db12 | db123 x other (only Host *) | lb1 lb2 | mail | own1 own2
	// own3 own4 (their own blocks set only HostName, Port and User).
	if n := runs(); n > 9+5 {
		t.Errorf("%d ssh -G runs for %d hosts in 9 classes, 5 of more than one host", n, len(classHosts))
	}
	for _, h := range classHosts {
		want, err := runSSHG(lookSSH(), []string{"-G", "-F", r.file, "--", h})
		if err != nil {
			t.Fatal(err)
		}
		if !sameG(got[h], want) {
			for k := range want {
				if strings.Join(got[h][k], " ") != strings.Join(want[k], " ") {
					t.Errorf("%s: %s = %q, OpenSSH says %q", h, k, got[h][k], want[k])
				}
			}
		}
	}
}

// What deptool cannot class (Match, tokens OpenSSH expands) is asked
// host by host.
func TestSSHGPerHostWhereClassesDoNotApply(t *testing.T) {
	for _, cfg := range []string{
		"Host *\n  Port 2\nMatch host web1\n  Port 3\n",
		"Host *\n  UserKnownHostsFile /tmp/kh-%h\n",
		"Host *\n  IdentityAgent /run/agent-%h\n",
		"Host *\n  User \"a b\"\n  HostName \"x\"\n",
	} {
		r := gResolver(t, cfg)
		runs := countingSSH(t, r)
		for _, h := range []string{"web1", "web2", "web3"} {
			if _, err := sshGClassed(r.ssh, r.file, r.explicit, r.home, h); err != nil {
				t.Fatalf("%q: %s: %v", cfg, h, err)
			}
		}
		if n := runs(); n != 3 {
			t.Errorf("%q: %d ssh -G runs for 3 hosts, want one each", cfg, n)
		}
	}
}

// An answer that differs from the derivation (here a fake ssh whose User
// is the host's name, which no config line says) turns classes off: every
// host then gets its own answer.
func TestSSHGClassesOffWhenADerivationDiffers(t *testing.T) {
	r := gResolver(t, "Host *\n  Port 2\n")
	fake := filepath.Join(t.TempDir(), "ssh")
	script := "#!/bin/sh\nfor a; do h=$a; done\necho \"host $h\"\necho \"hostname $h\"\necho \"user u-$h\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r.ssh = fake
	for _, h := range []string{"a", "b", "c"} {
		g, err := sshGClassed(r.ssh, r.file, r.explicit, r.home, h)
		if err != nil {
			t.Fatal(err)
		}
		if u := first(g["user"]); u != "u-"+h {
			t.Errorf("%s: user %q, want the fake's u-%s", h, u, h)
		}
	}
}

func TestGlobMatchIsOpenSSHs(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"web*", "web1", true}, {"web*", "web", true}, {"web*", "Web1", false}, {"w?b", "wab", true},
		{"w?b", "wb", false}, {"*", "", true}, {"*.prod", "a.b.prod", true}, {"a*b*c", "acb", false},
		{"a*b*c", "axbyc", true}, {"[ab]", "a", false}, {"[ab]", "[ab]", true},
	} {
		if got := globMatch(c.p, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.p, c.s, got)
		}
	}
}
