package transport

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testResolver reads cfg from a temp file, with a temp home and the local
// user "alice", so nothing of the machine's own setup leaks in.
func testResolver(t *testing.T, cfg string) *resolver {
	t.Helper()
	home := t.TempDir()
	file := filepath.Join(home, "ssh_config")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c, file, err := loadConfig(file, home)
	if err != nil {
		t.Fatal(err)
	}
	return &resolver{cfg: c, file: file, home: home, localUser: "alice"}
}

const patternsConfig = `
Host web? !web9
  HostName %h.example.net
  User deploy
  Port 2222

Host db1
  HostName 10.0.0.5
  IdentityFile ~/.ssh/db_key
  IdentityFile /keys/%r@%h:%p
  IdentitiesOnly yes
  UserKnownHostsFile ~/kh1 "/a dir/kh2"
  StrictHostKeyChecking accept-new
  ConnectTimeout 3

Host *
  User fallback
  Port 2200
  IdentityFile ~/.ssh/common
`

func TestHostPatternsAndFirstValueWins(t *testing.T) {
	r := testResolver(t, patternsConfig)
	h, err := r.hop("web1")
	if err != nil {
		t.Fatal(err)
	}
	if h.HostName != "web1.example.net" || h.User != "deploy" || h.Port != 2222 {
		t.Errorf("web1 resolved to %s@%s:%d, want deploy@web1.example.net:2222", h.User, h.HostName, h.Port)
	}
	if h.addr() != "web1.example.net:2222" {
		t.Errorf("addr = %s", h.addr())
	}
	// Negated: web9 matches only Host *.
	h, err = r.hop("web9")
	if err != nil {
		t.Fatal(err)
	}
	if h.HostName != "web9" || h.User != "fallback" || h.Port != 2200 {
		t.Errorf("web9 resolved to %s@%s:%d, want fallback@web9:2200", h.User, h.HostName, h.Port)
	}
}

func TestIdentityFilesAccumulateAndExpand(t *testing.T) {
	r := testResolver(t, patternsConfig)
	h, err := r.hop("db1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(r.home, ".ssh/db_key"),
		"/keys/fallback@10.0.0.5:2200",
		filepath.Join(r.home, ".ssh/common"),
	}
	if !slices.Equal(h.Identities, want) || h.DefaultIdentity {
		t.Errorf("identities = %q (default %v), want %q", h.Identities, h.DefaultIdentity, want)
	}
	if !h.IdentitiesOnly {
		t.Error("IdentitiesOnly yes not honoured")
	}
	if want := []string{filepath.Join(r.home, "kh1"), "/a dir/kh2"}; !slices.Equal(h.KnownHosts, want) {
		t.Errorf("known hosts = %q, want %q", h.KnownHosts, want)
	}
	if h.Strict != strictAcceptNew || h.ConnectTimeout != 3*time.Second {
		t.Errorf("strict %v timeout %v, want accept-new and 3s", h.Strict, h.ConnectTimeout)
	}
}

func TestDefaults(t *testing.T) {
	r := testResolver(t, "Host other\n  User bob\n")
	h, err := r.hop("web1")
	if err != nil {
		t.Fatal(err)
	}
	if h.HostName != "web1" || h.User != "alice" || h.Port != 22 || h.ProxyJump != "" {
		t.Errorf("got %s@%s:%d jump %q, want alice@web1:22 and no jump", h.User, h.HostName, h.Port, h.ProxyJump)
	}
	ids := []string{
		filepath.Join(r.home, ".ssh/id_ed25519"),
		filepath.Join(r.home, ".ssh/id_ecdsa"),
		filepath.Join(r.home, ".ssh/id_rsa"),
	}
	if !slices.Equal(h.Identities, ids) || !h.DefaultIdentity {
		t.Errorf("identities = %q (default %v), want the defaults %q", h.Identities, h.DefaultIdentity, ids)
	}
	if kh := []string{filepath.Join(r.home, ".ssh/known_hosts")}; !slices.Equal(h.KnownHosts, kh) {
		t.Errorf("known hosts = %q, want %q", h.KnownHosts, kh)
	}
	if h.Strict != strictYes || h.ConnectTimeout != DefaultConnectTimeout || h.IdentitiesOnly {
		t.Errorf("strict %v timeout %v identitiesOnly %v, want yes, %v, false", h.Strict, h.ConnectTimeout, h.IdentitiesOnly, DefaultConnectTimeout)
	}
}

func TestStrictHostKeyCheckingValues(t *testing.T) {
	for v, want := range map[string]strictness{
		"yes": strictYes, "ask": strictYes, "accept-new": strictAcceptNew, "no": strictNo, "off": strictNo,
	} {
		r := testResolver(t, "Host h\n  StrictHostKeyChecking "+v+"\n")
		h, err := r.hop("h")
		if err != nil || h.Strict != want {
			t.Errorf("StrictHostKeyChecking %s: got %v, %v; want %v", v, h, err, want)
		}
	}
}

func TestBadValuesNameHostAndFile(t *testing.T) {
	for _, line := range []string{
		"Port 70000", "Port http", "StrictHostKeyChecking maybe", "ConnectTimeout soon",
		"IdentityFile ~/.ssh/%C", "HostName %z",
	} {
		r := testResolver(t, "Host web1\n  "+line+"\n")
		_, err := r.hop("web1")
		if err == nil {
			t.Errorf("%s: no error", line)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "ssh config "+r.file+": ") {
			t.Errorf("%s: error %q does not name the host and the file", line, msg)
		}
	}
}

func TestConfigFileChoice(t *testing.T) {
	home := t.TempDir()
	t.Setenv(ConfigEnv, "")
	// The default file may be missing.
	if _, file, err := loadConfig("", home); err != nil || file != filepath.Join(home, ".ssh/config") {
		t.Errorf("missing ~/.ssh/config: %v, %s", err, file)
	}
	// A file named by the environment must exist.
	t.Setenv(ConfigEnv, filepath.Join(home, "nope"))
	if _, _, err := loadConfig("", home); err == nil {
		t.Error("missing $DEPTOOL_SSH_CONFIG file: no error")
	}
	env := filepath.Join(home, "env_config")
	os.WriteFile(env, []byte("Host x\n  Port 1\n"), 0o644)
	t.Setenv(ConfigEnv, env)
	if _, file, err := loadConfig("", home); err != nil || file != env {
		t.Errorf("$%s: got %s, %v; want %s", ConfigEnv, file, err, env)
	}
	// Options.ConfigFile beats the environment.
	opt := filepath.Join(home, "opt_config")
	os.WriteFile(opt, nil, 0o644)
	if _, file, err := loadConfig(opt, home); err != nil || file != opt {
		t.Errorf("explicit file: got %s, %v; want %s", file, err, opt)
	}
}

func TestTildeAndTokens(t *testing.T) {
	for in, want := range map[string]string{
		"~":          "/home/a",
		"~/x/y":      "/home/a/x/y",
		"~root/k":    "/root/k",
		"/abs/~/x":   "/abs/~/x",
		"relative/k": "relative/k",
	} {
		got, err := expandTilde(in, "/home/a")
		if err != nil || got != want {
			t.Errorf("expandTilde(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := expandTilde("~no-such-user-here/k", "/home/a"); err == nil {
		t.Error("unknown ~user: no error")
	}
	got, err := expandTokens("%d/%h_%%_%p", map[byte]string{'d': "/h", 'h': "web1", 'p': "22"})
	if err != nil || got != "/h/web1_%_22" {
		t.Errorf("expandTokens = %q, %v", got, err)
	}
	if _, err := expandTokens("key%", nil); err == nil {
		t.Error("trailing %: no error")
	}
}

func TestKnownHostsArgs(t *testing.T) {
	dir := t.TempDir()
	spaced := filepath.Join(dir, "a b")
	os.WriteFile(spaced, nil, 0o644)
	for in, want := range map[string][]string{
		"/k1 /k2":       {"/k1", "/k2"},
		`/x y" "/z`:     {"/x y", "/z"}, // "/x y" "/z" after the library strips its quotes
		`"/x y" /z`:     {"/x y", "/z"},
		spaced:          {spaced},
		"":              nil,
		"  /k1\t /k2  ": {"/k1", "/k2"},
	} {
		if got := knownHostsArgs(in); !slices.Equal(got, want) {
			t.Errorf("knownHostsArgs(%q) = %q, want %q", in, got, want)
		}
	}
}
