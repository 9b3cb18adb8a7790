package transport

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fleetConfig writes an ssh_config and a known_hosts naming n hosts, as a
// lab or a fleet's generated config does.
func fleetConfig(t testing.TB, n int) (config, knownHosts string) {
	dir := t.TempDir()
	var cfg, kh strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&cfg, "Host bench%d\n    HostName 198.18.%d.%d\n    User root\n    IdentityFile %s/id\n    UserKnownHostsFile %s/known_hosts\n    StrictHostKeyChecking yes\n\n", i, i/250, i%250, dir, dir)
		fmt.Fprintf(&kh, "198.18.%d.%d ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n", i/250, i%250)
	}
	config, knownHosts = filepath.Join(dir, "config"), filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(knownHosts, []byte(kh.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return config, knownHosts
}

// A config is parsed once per content: the same bytes give the same
// Config, changed bytes a new one that sees the change.
func TestConfigIsParsedOncePerContent(t *testing.T) {
	defer func(bin string) { sshBinary = bin }(sshBinary)
	sshBinary = "" // the file reader, which parses the config itself
	config, kh := fleetConfig(t, 3)
	resolve := func(host string) *hop {
		t.Helper()
		r, err := newResolver(config)
		if err != nil {
			t.Fatal(err)
		}
		route, err := r.route(host)
		if err != nil {
			t.Fatal(err)
		}
		return route[0]
	}
	first, _ := newResolver(config)
	again, _ := newResolver(config)
	if first.cfg != again.cfg {
		t.Error("the same config was parsed twice")
	}
	if h := resolve("bench2"); h.HostName != "198.18.0.2" {
		t.Errorf("bench2 resolves to %s", h.HostName)
	}
	data, _ := os.ReadFile(config)
	os.WriteFile(config, []byte(strings.Replace(string(data), "198.18.0.2", "198.18.9.9", 1)), 0o600)
	if h := resolve("bench2"); h.HostName != "198.18.9.9" {
		t.Errorf("after an edit, bench2 resolves to %s", h.HostName)
	}

	h := resolve("bench1")
	k1, err := loadHostKeys(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := loadHostKeys(h, nil)
	if k1.db != k2.db {
		t.Error("the same known_hosts was parsed twice")
	}
	f, _ := os.OpenFile(kh, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("198.18.0.1 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=\n")
	f.Close()
	k3, err := loadHostKeys(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k3.db == k1.db || len(k3.known) != 2 {
		t.Errorf("after a key was added, the host has %v known", k3.known)
	}
}

// Dialing one host of a fleet costs about the same whatever the fleet's
// size once its files are parsed: the set-up of a dial at 100 and 1,000
// hosts, with deptool reading ssh_config itself (no ssh binary) and
// known_hosts (always). It was 7 ms and 74 ms on a busy 2-core machine,
// parsing both files at every dial; now 0.7 ms and 2.8 ms.
func benchResolve(b *testing.B, n int) {
	defer func(bin string) { sshBinary = bin }(sshBinary)
	sshBinary = ""
	config, _ := fleetConfig(b, n)
	for i := 0; b.Loop(); i++ {
		r, err := newResolver(config)
		if err != nil {
			b.Fatal(err)
		}
		route, err := r.route(fmt.Sprintf("bench%d", 1+i%n))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := loadHostKeys(route[0], nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolve100Hosts(b *testing.B)  { benchResolve(b, 100) }
func BenchmarkResolve1000Hosts(b *testing.B) { benchResolve(b, 1000) }
