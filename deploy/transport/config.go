package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
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
	// Certificates are CertificateFile's files, expanded.
	Certificates []string
	// Agent is the ssh-agent socket (IdentityAgent); AgentSet says the
	// config named one, and an empty Agent then means none.
	Agent    string
	AgentSet bool
	// ProxyJump and ProxyCommand: at most one is set, as in OpenSSH,
	// where the first given wins. ProxyCommand is expanded.
	ProxyJump    string
	ProxyCommand string
	// HostKeyAlias, when set, is the name host keys are looked up and
	// recorded under, instead of HostName and Port.
	HostKeyAlias string
	KnownHosts   []string // UserKnownHostsFile: where new keys are recorded
	GlobalKnown  []string // GlobalKnownHostsFile: read only
	HashKnown    bool     // HashKnownHosts: record new keys hashed
	Strict       strictness
	// Network is "tcp", or "tcp4"/"tcp6" for AddressFamily inet/inet6.
	Network        string
	ConnectTimeout time.Duration
	// KeepAlive and KeepAliveMax are ServerAliveInterval and
	// ServerAliveCountMax; zero when the config leaves them unset.
	KeepAlive    time.Duration
	KeepAliveMax int
	// Algorithms are the negotiated lists the config restricts.
	Algorithms algorithms
	// Via is the previous hop's name when this one is reached through a
	// ProxyJump, for messages.
	Via string

	settings settings
}

// settings are a hop's raw values, from `ssh -G` or from the config file,
// before they are checked and expanded into the hop.
type settings struct {
	identities, certificates                     []string
	defaultIDs                                   bool
	identitiesOnly, identityAgent                string
	proxyJump, proxyCommand, hostKeyAlias        string
	userKnownHosts, globalKnown, strict          string
	connectTimeout, aliveInterval, aliveCountMax string
	addressFamily, hashKnownHosts                string
	// expanded: the known_hosts files and agent socket have their tokens
	// and ~ expanded already (ssh -G does).
	expanded bool
}

func (h *hop) addr() string { return net.JoinHostPort(h.HostName, strconv.Itoa(h.Port)) }

// where says where a hop is, for messages: "web2 (198.18.2.2:22 via web1)".
func (h *hop) where() string {
	if h.ProxyCommand != "" {
		return fmt.Sprintf("%s (%s through ProxyCommand)", h.Alias, h.addr())
	}
	if h.Via != "" {
		return fmt.Sprintf("%s (%s via %s)", h.Alias, h.addr(), h.Via)
	}
	return fmt.Sprintf("%s (%s)", h.Alias, h.addr())
}

// resolver looks hosts up in one ssh_config: through OpenSSH (`ssh -G`)
// where there is an ssh binary, so the answer is OpenSSH's own, Match and
// Include and all; else by reading the file itself.
type resolver struct {
	cfg       *ssh_config.Config // the parsed file, when there is no ssh
	ssh       string             // the ssh binary, "" to read the file
	file      string
	explicit  bool // file was named (Options or DEPTOOL_SSH_CONFIG)
	home      string
	localUser string
}

func newResolver(file string) (*resolver, error) {
	home, localUser, err := localAccount()
	if err != nil {
		return nil, err
	}
	r := &resolver{home: home, localUser: localUser, ssh: lookSSH()}
	r.file, r.explicit = configFile(file, home)
	if r.ssh != "" {
		// OpenSSH reads the file; deptool only makes sure a file named
		// explicitly exists, with the same error as without ssh.
		if r.explicit {
			if _, err := os.Stat(r.file); err != nil {
				return nil, fmt.Errorf("ssh config: %w", err)
			}
		}
		return r, nil
	}
	r.cfg, r.file, err = loadConfig(file, home)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// describe names the configuration read, for messages.
func (r *resolver) describe() string {
	if r.ssh != "" && !r.explicit {
		return "(~/.ssh/config and /etc/ssh/ssh_config, through ssh -G)"
	}
	return r.file
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

// configFile is the ssh_config to use; see Options.ConfigFile.
func configFile(file, home string) (string, bool) {
	if file != "" {
		return file, true
	}
	if file = os.Getenv(ConfigEnv); file != "" {
		return file, true
	}
	return filepath.Join(home, ".ssh", "config"), false
}

// loadConfig reads the ssh_config to use; see Options.ConfigFile.
func loadConfig(file, home string) (*ssh_config.Config, string, error) {
	file, explicit := configFile(file, home)
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
func (r *resolver) hop(alias string) (*hop, error) { return r.lookup(alias, nil) }

// lookup resolves a host, as a jump host when spec is given: its user and
// port then override the config's.
func (r *resolver) lookup(alias string, spec *jump) (*hop, error) {
	if r.ssh != "" {
		return r.hopFromG(alias, spec)
	}
	h, err := r.hopFromFile(alias)
	if err != nil || spec == nil {
		return h, err
	}
	if spec.User != "" {
		h.User = spec.User
	}
	if spec.Port != 0 {
		h.Port = spec.Port
	}
	return h, nil
}

// fileUnsupported are the unsupported options the file reader looks for:
// without ssh -G there are no defaults to compare with, so each is looked
// up by name.
var fileUnsupported = func() []string {
	// The config reader cannot apply +, - and ^ to OpenSSH's default
	// lists, so it honours no algorithm list.
	keys := append([]string(nil), algoOptions...)
	for k, o := range sshOptions {
		if o.kind == unsupported {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}()

// hopFromFile resolves a host by reading ssh_config itself, where there is
// no OpenSSH to ask. It knows Host blocks but not Match, and reads only the
// one file.
func (r *resolver) hopFromFile(alias string) (*hop, error) {
	for _, k := range fileUnsupported {
		v := r.get(alias, k)
		if v == "" || slices.Contains(sshOptions[k].harmless, strings.ToLower(v)) {
			continue
		}
		if k == "localcommand" && !isYes(r.get(alias, "PermitLocalCommand")) {
			continue
		}
		return nil, &UnsupportedOptionError{Host: alias, Option: optionName(k), Value: v, File: r.file}
	}
	h := &hop{Alias: alias, HostName: alias, Port: 22, User: r.localUser}
	if err := r.address(h); err != nil {
		return nil, fmt.Errorf("host %s: ssh config %s: %w", alias, r.file, err)
	}
	ids, _ := r.cfg.GetAll(alias, "IdentityFile")
	certs, _ := r.cfg.GetAll(alias, "CertificateFile")
	h.settings = settings{
		identities:     ids,
		defaultIDs:     len(ids) == 0,
		certificates:   certs,
		identitiesOnly: r.get(alias, "IdentitiesOnly"),
		identityAgent:  r.get(alias, "IdentityAgent"),
		hostKeyAlias:   r.get(alias, "HostKeyAlias"),
		userKnownHosts: r.get(alias, "UserKnownHostsFile"),
		globalKnown:    r.get(alias, "GlobalKnownHostsFile"),
		strict:         r.get(alias, "StrictHostKeyChecking"),
		connectTimeout: r.get(alias, "ConnectTimeout"),
		aliveInterval:  r.get(alias, "ServerAliveInterval"),
		aliveCountMax:  r.get(alias, "ServerAliveCountMax"),
		addressFamily:  r.get(alias, "AddressFamily"),
		hashKnownHosts: r.get(alias, "HashKnownHosts"),
	}
	if len(ids) == 0 {
		h.settings.identities = defaultIdentities
	}
	if h.settings.globalKnown == "" {
		h.settings.globalKnown = "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"
	}
	// Of ProxyJump and ProxyCommand, the one given first wins, as in
	// OpenSSH; the library cannot tell which came first within a block,
	// so both set for one host is refused as ambiguous.
	pj, pc := r.get(alias, "ProxyJump"), r.get(alias, "ProxyCommand")
	if strings.EqualFold(pj, "none") {
		pj = ""
	}
	if strings.EqualFold(pc, "none") {
		pc = ""
	}
	if pj != "" && pc != "" {
		return nil, fmt.Errorf("host %s: ssh config %s sets both ProxyJump and ProxyCommand: keep one", alias, r.file)
	}
	h.settings.proxyJump, h.settings.proxyCommand = pj, pc
	if err := r.apply(h); err != nil {
		return nil, err
	}
	return h, nil
}

// apply checks and expands a hop's settings into it.
func (r *resolver) apply(h *hop) error {
	for _, step := range []func(*hop) error{r.identities, r.hostKeys, r.timeout, r.proxy, r.agent} {
		if err := step(h); err != nil {
			return fmt.Errorf("host %s: ssh config %s: %w", h.Alias, r.describe(), err)
		}
	}
	return nil
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

// defaultIdentities are tried, in this order, when the config names none
// and there is no ssh to ask (which has its own list).
var defaultIdentities = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}

func (r *resolver) identities(h *hop) error {
	s := &h.settings
	h.DefaultIdentity = s.defaultIDs
	for _, f := range s.identities {
		p, err := r.path(h, f)
		if err != nil {
			return fmt.Errorf("IdentityFile %s: %w", f, err)
		}
		h.Identities = append(h.Identities, p)
	}
	for _, f := range s.certificates {
		p, err := r.path(h, f)
		if err != nil {
			return fmt.Errorf("CertificateFile %s: %w", f, err)
		}
		h.Certificates = append(h.Certificates, p)
	}
	h.IdentitiesOnly = isYes(s.identitiesOnly)
	return nil
}

func (r *resolver) hostKeys(h *hop) error {
	s := &h.settings
	h.HostKeyAlias = s.hostKeyAlias
	h.HashKnown = isYes(s.hashKnownHosts)
	user := knownHostsArgs(s.userKnownHosts)
	if len(user) == 0 {
		user = []string{"~/.ssh/known_hosts"}
	}
	var err error
	if h.KnownHosts, err = r.files(h, "UserKnownHostsFile", user); err != nil {
		return err
	}
	if h.GlobalKnown, err = r.files(h, "GlobalKnownHostsFile", knownHostsArgs(s.globalKnown)); err != nil {
		return err
	}
	h.Strict, err = parseStrict(s.strict)
	return err
}

func (r *resolver) files(h *hop, option string, names []string) ([]string, error) {
	var out []string
	for _, f := range names {
		if strings.EqualFold(f, "none") {
			continue
		}
		p := f
		if !h.settings.expanded {
			var err error
			if p, err = r.path(h, f); err != nil {
				return nil, fmt.Errorf("%s %s: %w", option, f, err)
			}
		}
		out = append(out, p)
	}
	return out, nil
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
	case "", "yes", "true", "ask":
		return strictYes, nil
	case "accept-new":
		return strictAcceptNew, nil
	case "no", "false", "off":
		return strictNo, nil
	}
	return strictYes, fmt.Errorf("StrictHostKeyChecking %q: want yes, accept-new or no", v)
}

func (r *resolver) timeout(h *hop) error {
	s := &h.settings
	h.ConnectTimeout = DefaultConnectTimeout
	if v := s.connectTimeout; v != "" && !strings.EqualFold(v, "none") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("ConnectTimeout %q: want a number of seconds", v)
		}
		if n > 0 {
			h.ConnectTimeout = time.Duration(n) * time.Second
		}
	}
	if v := s.aliveInterval; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("ServerAliveInterval %q: want a number of seconds", v)
		}
		h.KeepAlive = time.Duration(n) * time.Second
	}
	if v := s.aliveCountMax; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("ServerAliveCountMax %q: want a number", v)
		}
		h.KeepAliveMax = n
	}
	switch strings.ToLower(s.addressFamily) {
	case "", "any":
		h.Network = "tcp"
	case "inet":
		h.Network = "tcp4"
	case "inet6":
		h.Network = "tcp6"
	default:
		return fmt.Errorf("AddressFamily %q: want any, inet or inet6", s.addressFamily)
	}
	return nil
}

// proxy expands ProxyCommand's tokens (%h %p %r %n, as OpenSSH's manual
// lists them) and keeps ProxyJump as is.
func (r *resolver) proxy(h *hop) error {
	h.ProxyJump = h.settings.proxyJump
	if h.settings.proxyCommand == "" {
		return nil
	}
	cmd, err := expandTokens(h.settings.proxyCommand, map[byte]string{
		'h': h.HostName, 'p': strconv.Itoa(h.Port), 'r': h.User, 'n': h.Alias,
	})
	if err != nil {
		return fmt.Errorf("ProxyCommand: %w", err)
	}
	h.ProxyCommand = cmd
	return nil
}

// agent resolves IdentityAgent: none, SSH_AUTH_SOCK, $VAR or a path.
func (r *resolver) agent(h *hop) error {
	v := h.settings.identityAgent
	if v == "" {
		return nil
	}
	h.AgentSet = true
	switch {
	case strings.EqualFold(v, "none"):
		return nil
	case v == "SSH_AUTH_SOCK":
		h.Agent = os.Getenv("SSH_AUTH_SOCK")
		return nil
	case strings.HasPrefix(v, "$"):
		h.Agent = os.Getenv(strings.Trim(v[1:], "{}"))
		return nil
	}
	p := v
	if !h.settings.expanded {
		var err error
		if p, err = r.path(h, v); err != nil {
			return fmt.Errorf("IdentityAgent %s: %w", v, err)
		}
	}
	h.Agent = p
	return nil
}

// path expands the tokens and ~ of a file name in the config.
func (r *resolver) path(h *hop, p string) (string, error) {
	local, _ := os.Hostname()
	short, _, _ := strings.Cut(local, ".")
	k := h.HostName
	if h.settings.hostKeyAlias != "" {
		k = h.settings.hostKeyAlias
	}
	p, err := expandTokens(p, map[byte]string{
		'd': r.home, 'u': r.localUser, 'h': h.HostName, 'n': h.Alias,
		'p': strconv.Itoa(h.Port), 'r': h.User, 'i': strconv.Itoa(os.Getuid()),
		'l': local, 'L': short, 'k': k,
	})
	if err != nil {
		return "", err
	}
	return expandTilde(p, r.home)
}
