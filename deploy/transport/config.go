package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// strictness is StrictHostKeyChecking.
type strictness int

const (
	strictYes strictness = iota
	strictAcceptNew
	strictNo
)

// hop is one SSH connection of a route, as ssh_config describes it.
type hop struct {
	Alias    string // the name asked for (web1)
	HostName string
	Port     int
	User     string
	// Identities are the identity files to try, expanded. When the config
	// names none, they are the defaults, which are tried only if present.
	Identities      []string
	DefaultIdentity bool
	IdentitiesOnly  bool
	ProxyJump       string
	KnownHosts      []string
	Strict          strictness
	ConnectTimeout  time.Duration
	// Via is the previous hop's name when this one is reached through a
	// ProxyJump, for messages.
	Via string
}

func (h *hop) addr() string { return net.JoinHostPort(h.HostName, strconv.Itoa(h.Port)) }

// where says where a hop is, for messages: "web2 (198.18.2.2:22 via web1)".
func (h *hop) where() string {
	if h.Via != "" {
		return fmt.Sprintf("%s (%s via %s)", h.Alias, h.addr(), h.Via)
	}
	return fmt.Sprintf("%s (%s)", h.Alias, h.addr())
}

// resolver looks hosts up in one ssh_config.
type resolver struct {
	cfg       *ssh_config.Config
	file      string
	home      string
	localUser string
}

func newResolver(file string) (*resolver, error) {
	home, localUser, err := localAccount()
	if err != nil {
		return nil, err
	}
	cfg, file, err := loadConfig(file, home)
	if err != nil {
		return nil, err
	}
	return &resolver{cfg: cfg, file: file, home: home, localUser: localUser}, nil
}

func localAccount() (home, name string, err error) {
	u, uerr := user.Current()
	home, herr := os.UserHomeDir()
	if herr != nil && uerr == nil {
		home, herr = u.HomeDir, nil
	}
	if herr != nil {
		return "", "", fmt.Errorf("ssh config: no home directory to find ~/.ssh in: %w", herr)
	}
	switch {
	case uerr == nil:
		name = u.Username
	case os.Getenv("USER") != "":
		name = os.Getenv("USER")
	default:
		return "", "", fmt.Errorf("ssh config: cannot tell the local user name (the default login user): %w", uerr)
	}
	return home, name, nil
}

// loadConfig reads the ssh_config to use; see Options.ConfigFile.
func loadConfig(file, home string) (*ssh_config.Config, string, error) {
	explicit := file != ""
	if !explicit {
		file = os.Getenv(ConfigEnv)
		explicit = file != ""
	}
	if !explicit {
		file = filepath.Join(home, ".ssh", "config")
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		b, err = nil, nil
	}
	if err != nil {
		return nil, file, fmt.Errorf("ssh config: %w", err)
	}
	cfg, err := decodeConfig(file, b)
	if err != nil {
		return nil, file, fmt.Errorf("ssh config %s: %w", file, err)
	}
	return cfg, file, nil
}

func (r *resolver) get(alias, key string) string {
	v, _ := r.cfg.Get(alias, key)
	return strings.TrimSpace(v)
}

// hop resolves one host name into its connection settings.
func (r *resolver) hop(alias string) (*hop, error) {
	h := &hop{Alias: alias, HostName: alias, Port: 22, User: r.localUser}
	for _, step := range []func(*hop) error{r.address, r.identities, r.hostKeys, r.timeout} {
		if err := step(h); err != nil {
			return nil, fmt.Errorf("host %s: ssh config %s: %w", alias, r.file, err)
		}
	}
	h.ProxyJump = r.get(alias, "ProxyJump")
	if strings.EqualFold(h.ProxyJump, "none") {
		h.ProxyJump = ""
	}
	return h, nil
}

func (r *resolver) address(h *hop) error {
	if v := r.get(h.Alias, "HostName"); v != "" {
		name, err := expandTokens(v, map[byte]string{'h': h.Alias})
		if err != nil {
			return fmt.Errorf("HostName: %w", err)
		}
		h.HostName = name
	}
	if v := r.get(h.Alias, "Port"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("invalid Port %q: want a number from 1 to 65535", v)
		}
		h.Port = p
	}
	if v := r.get(h.Alias, "User"); v != "" {
		h.User = v
	}
	return nil
}

// defaultIdentities are tried, in this order, when the config names none.
var defaultIdentities = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}

func (r *resolver) identities(h *hop) error {
	files, _ := r.cfg.GetAll(h.Alias, "IdentityFile")
	if len(files) == 0 {
		files, h.DefaultIdentity = defaultIdentities, true
	}
	for _, f := range files {
		p, err := r.path(h, f)
		if err != nil {
			return fmt.Errorf("IdentityFile %s: %w", f, err)
		}
		h.Identities = append(h.Identities, p)
	}
	v := r.get(h.Alias, "IdentitiesOnly")
	h.IdentitiesOnly = strings.EqualFold(v, "yes")
	return nil
}

func (r *resolver) hostKeys(h *hop) error {
	files := knownHostsArgs(r.get(h.Alias, "UserKnownHostsFile"))
	if len(files) == 0 {
		files = []string{"~/.ssh/known_hosts"}
	}
	for _, f := range files {
		if strings.EqualFold(f, "none") {
			continue
		}
		p, err := r.path(h, f)
		if err != nil {
			return fmt.Errorf("UserKnownHostsFile %s: %w", f, err)
		}
		h.KnownHosts = append(h.KnownHosts, p)
	}
	s, err := parseStrict(r.get(h.Alias, "StrictHostKeyChecking"))
	h.Strict = s
	return err
}

// knownHostsArgs splits UserKnownHostsFile into file names. The config
// library strips the quotes of a value that starts and ends with one, so
// `"/a b" /c` arrives as `/a b" /c` and `"/a b"` as `/a b`: the quotes are
// put back, and a whole value naming an existing file is one name.
func knownHostsArgs(v string) []string {
	stripped := !strings.HasPrefix(v, `"`) && !strings.HasSuffix(v, `"`)
	if strings.Contains(v, `"`) && stripped {
		return splitArgs(`"` + v + `"`)
	}
	if strings.ContainsAny(v, " \t") {
		if _, err := os.Stat(v); err == nil {
			return []string{v}
		}
	}
	return splitArgs(v)
}

func parseStrict(v string) (strictness, error) {
	switch strings.ToLower(v) {
	// "ask" has no one to ask: deptool runs many hosts at once, so it
	// refuses like "yes" and says how to accept the key.
	case "", "yes", "ask":
		return strictYes, nil
	case "accept-new":
		return strictAcceptNew, nil
	case "no", "off":
		return strictNo, nil
	}
	return strictYes, fmt.Errorf("StrictHostKeyChecking %q: want yes, accept-new or no", v)
}

func (r *resolver) timeout(h *hop) error {
	h.ConnectTimeout = DefaultConnectTimeout
	v := r.get(h.Alias, "ConnectTimeout")
	if v == "" || strings.EqualFold(v, "none") {
		return nil
	}
	s, err := strconv.Atoi(v)
	if err != nil || s < 0 {
		return fmt.Errorf("ConnectTimeout %q: want a number of seconds", v)
	}
	if s > 0 {
		h.ConnectTimeout = time.Duration(s) * time.Second
	}
	return nil
}

// path expands the tokens and ~ of a file name in the config.
func (r *resolver) path(h *hop, p string) (string, error) {
	p, err := expandTokens(p, map[byte]string{
		'd': r.home, 'u': r.localUser, 'h': h.HostName, 'n': h.Alias,
		'p': strconv.Itoa(h.Port), 'r': h.User, 'i': strconv.Itoa(os.Getuid()),
	})
	if err != nil {
		return "", err
	}
	return expandTilde(p, r.home)
}
