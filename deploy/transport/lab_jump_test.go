package transport

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/deptool/deptool/internal/lab"
)

// whereFrom runs on the host: its name and the address the SSH connection
// came from, which shows the path taken.
const whereFrom = `cat /etc/hostname; echo "${SSH_CONNECTION%% *}"`

func TestLabProxyJump(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	routeBetween(t, l, "web1", "web2")
	opts := writeConfig(t,
		hostBlock(t, l, "web2-via-web1", "web2", "ProxyJump web1"),
		hostBlock(t, l, "web1-via-web1-web2", "web1", "ProxyJump web1,web2"),
		hostBlock(t, l, "web1", "web1"),
		hostBlock(t, l, "web2", "web2"),
	)
	for _, tc := range []struct{ alias, want string }{
		{"web2-via-web1", "web2\n" + l.Addr("web1") + "\n"},
		// A chain: web1, then web2 from web1, then web1 again from web2.
		{"web1-via-web1-web2", "web1\n" + l.Addr("web2") + "\n"},
	} {
		c := dialLab(t, tc.alias, opts)
		out, err := c.Run(labCtx(t), whereFrom, nil)
		if err != nil || string(out) != tc.want {
			t.Errorf("%s: host and client address = %q, %v; want %q", tc.alias, out, err, tc.want)
		}
		if err := c.Close(); err != nil {
			t.Errorf("%s: Close: %v", tc.alias, err)
		}
	}
}

func TestLabProxyJumpErrorsNameTheJump(t *testing.T) {
	l := lab.Start(t, "web1", "web2")
	routeBetween(t, l, "web1", "web2")
	known := knownHostsWithout(t, l, "web2")
	opts := writeConfig(t,
		hostBlock(t, l, "closed", "web2", "ProxyJump web1", "Port 2"),
		hostBlock(t, l, "web2", "web2", "ProxyJump web1", "UserKnownHostsFile "+known),
		hostBlock(t, l, "web1", "web1"),
	)
	_, err := Dial(labCtx(t), "closed", opts)
	if err == nil || !strings.HasPrefix(err.Error(), l.Addr("web2")+":2 via web1: connect: ") ||
		!strings.HasSuffix(err.Error(), ": is the host up?") {
		t.Errorf("closed port behind a jump: %v", err)
	}
	_, err = Dial(labCtx(t), "web2", opts)
	if err == nil {
		t.Fatal("unknown key behind a jump: no error")
	}
	// The key must be scanned from the jump host: the instruction says so,
	// and works.
	scan := instruction(t, err.Error(), "then run: ", " (or set")
	if !strings.HasPrefix(scan, "ssh -F "+opts.ConfigFile+" web1 ssh-keyscan -t ed25519 "+l.Addr("web2")+" >> "+known) {
		t.Fatalf("instruction for a host behind a jump: %s", scan)
	}
	cmd := exec.Command("sh", "-c", scan)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", scan, err, out)
	}
	dialLab(t, "web2", opts)
}
