package transport

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deptool/deptool/internal/lab"
)

func TestMain(m *testing.M) { lab.Main(m) }

// labCtx bounds one lab test step: generous, since the machine is shared,
// but a hang still fails instead of stalling the run.
func labCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// labFiles are the client key and known_hosts the lab's ssh_config names.
func labFiles(t testing.TB, l *lab.Lab) (identity, knownHosts string) {
	t.Helper()
	c, file, err := loadConfig(l.SSHConfig(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &resolver{cfg: c, file: file, home: "/nonexistent", localUser: "root"}
	h, err := r.hop(l.Names()[0])
	if err != nil {
		t.Fatal(err)
	}
	return h.Identities[0], h.KnownHosts[0]
}

// hostBlock is an ssh_config block for a lab host, like the lab's own;
// extra lines replace the lab's lines with the same keyword.
func hostBlock(t testing.TB, l *lab.Lab, alias, host string, extra ...string) string {
	identity, known := labFiles(t, l)
	lines := append([]string{"Host " + alias}, indent(extra)...)
	for _, d := range []string{
		"HostName " + l.Addr(host),
		"User root",
		"IdentityFile " + identity,
		"IdentitiesOnly yes",
		"UserKnownHostsFile " + known,
		"StrictHostKeyChecking yes",
	} {
		key, _, _ := strings.Cut(d, " ")
		if !slices.ContainsFunc(extra, func(e string) bool { return strings.HasPrefix(e, key+" ") }) {
			lines = append(lines, "  "+d)
		}
	}
	return strings.Join(lines, "\n") + "\n\n"
}

func indent(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "  " + l
	}
	return out
}

// writeConfig writes an ssh_config for a test and returns Options using it.
func writeConfig(t testing.TB, blocks ...string) Options {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(file, []byte(strings.Join(blocks, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return Options{ConfigFile: file, NoAgent: true}
}

// labOptions uses the lab's own ssh_config.
func labOptions(l *lab.Lab) Options {
	return Options{ConfigFile: l.SSHConfig(), NoAgent: true}
}

func dialLab(t testing.TB, host string, opts Options) *Conn {
	t.Helper()
	c, err := Dial(labCtx(t), host, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustExec(t testing.TB, l *lab.Lab, host string, argv ...string) string {
	t.Helper()
	out, err := l.Exec(host, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// routeBetween lets two lab hosts reach each other through the machine,
// which the lab does not do (its hosts are reachable only from the
// machine): a route in each host's network namespace, and forwarding on
// just the two hosts' veths, so nothing else on the machine is routed.
// The hosts cannot add routes themselves (no CAP_NET_ADMIN), so this goes
// through `ip -n`, with the namespace found from the veth the lab documents
// (labvI for 198.18.I.2). Undone at cleanup.
func routeBetween(t testing.TB, l *lab.Lab, a, b string) {
	t.Helper()
	type side struct{ addr, gw, veth, netns string }
	var s [2]side
	for i, name := range []string{a, b} {
		addr := netip.MustParseAddr(l.Addr(name))
		ip := addr.As4()
		index := int(ip[2])
		if ip[1] == 19 {
			index += 255
		}
		ip[3] = 1
		s[i] = side{addr: addr.String(), gw: netip.AddrFrom4(ip).String(), veth: fmt.Sprintf("labv%d", index)}
		out, err := exec.Command("ip", "-o", "link", "show", s[i].veth).CombinedOutput()
		m := regexp.MustCompile(`link-netns (\S+)`).FindSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("finding %s's network namespace from %s: %v: %s", name, s[i].veth, err, out)
		}
		s[i].netns = string(m[1])
	}
	for i := range s {
		me, peer := s[i], s[1-i]
		run(t, "ip", "-n", me.netns, "route", "replace", peer.addr+"/32", "via", me.gw)
		fwd := "/proc/sys/net/ipv4/conf/" + me.veth + "/forwarding"
		if err := os.WriteFile(fwd, []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			exec.Command("ip", "-n", me.netns, "route", "del", peer.addr+"/32").Run()
			os.WriteFile(fwd, []byte("0"), 0)
		})
	}
}

func run(t testing.TB, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
}
