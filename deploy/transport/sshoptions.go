package transport

import (
	"fmt"
	"slices"
	"strings"
)

// How deptool treats each ssh_config option. docs/ssh.md has the same
// table for operators; keep them together.
type optionKind int

const (
	// honoured: deptool does what OpenSSH would.
	honoured optionKind = iota
	// ignored: the option has no bearing on where deptool connects, how it
	// checks the host or how it logs in (terminal, X11, forwarding,
	// multiplexing, logging), or it only enables an extra login method
	// OpenSSH would try besides keys.
	ignored
	// unsupported: the option changes where or how to connect and deptool
	// cannot do it; set to anything but its default it is an error naming
	// the option and the host, since ignoring it would connect somewhere or
	// somehow the operator did not ask for.
	unsupported
)

// sshOption is one ssh_config keyword: its spelling for messages and how
// deptool treats it. harmless, for an unsupported option, lists values
// that ask for nothing deptool does not do (OpenSSH's defaults and their
// spellings).
type sshOption struct {
	name     string
	kind     optionKind
	harmless []string
}

// sshOptions is keyed by the lowercase keyword, as `ssh -G` prints it.
// A keyword not listed here (a newer OpenSSH's) is treated as
// unsupported: it is an error when set to other than OpenSSH's default.
var sshOptions = func() map[string]sshOption {
	m := map[string]sshOption{}
	add := func(kind optionKind, names ...string) {
		for _, n := range names {
			m[strings.ToLower(n)] = sshOption{name: n, kind: kind}
		}
	}
	add(honoured, "Host", "HostName", "User", "Port", "IdentityFile", "IdentitiesOnly",
		"CertificateFile", "IdentityAgent", "ProxyJump", "ProxyCommand", "HostKeyAlias",
		"UserKnownHostsFile", "GlobalKnownHostsFile", "StrictHostKeyChecking",
		"ConnectTimeout", "ServerAliveInterval", "ServerAliveCountMax", "AddressFamily",
		"HashKnownHosts", "KexAlgorithms", "Ciphers", "MACs", "HostKeyAlgorithms")
	add(ignored,
		// The terminal and OpenSSH's own interface.
		"BatchMode", "EscapeChar", "EnableEscapeCommandline", "LogLevel", "LogVerbose",
		"SyslogFacility", "VisualHostKey", "FingerprintHash", "RequestTTY", "SessionType",
		"StdinNull", "ForkAfterAuthentication", "ObscureKeystrokeTiming", "Tag",
		"IgnoreUnknown", "NumberOfPasswordPrompts", "PermitLocalCommand",
		// Connection sharing and keepalive tuning deptool does its own way.
		"ControlMaster", "ControlPath", "ControlPersist", "TCPKeepAlive", "IPQoS",
		"RekeyLimit", "ConnectionAttempts", "ChannelTimeout", "Compression",
		// Forwarding and environment: deptool opens none and sends none.
		"ForwardAgent", "ForwardX11", "ForwardX11Trusted", "ForwardX11Timeout",
		"XAuthLocation", "LocalForward", "RemoteForward", "DynamicForward",
		"ClearAllForwardings", "ExitOnForwardFailure", "GatewayPorts", "PermitRemoteOpen",
		"StreamLocalBindMask", "StreamLocalBindUnlink", "SendEnv", "SetEnv",
		"TunnelDevice",
		// Login methods OpenSSH would try besides keys; keys are still tried.
		"PasswordAuthentication", "KbdInteractiveAuthentication", "KbdInteractiveDevices",
		"GSSAPIAuthentication", "GSSAPIDelegateCredentials", "GSSAPIKeyExchange",
		"GSSAPITrustDNS", "GSSAPIRenewalForcesRekey", "GSSAPIKexAlgorithms",
		"GSSAPIClientIdentity", "GSSAPIServerIdentity",
		"HostbasedAuthentication", "HostbasedAcceptedAlgorithms", "EnableSSHKeysign",
		"PreferredAuthentications", "AddKeysToAgent", "SecurityKeyProvider",
		// Host key checks deptool does more strictly anyway.
		"CheckHostIP", "VerifyHostKeyDNS", "UpdateHostKeys", "NoHostAuthenticationForLocalhost",
		"RequiredRSASize",
		// Only in effect with CanonicalizeHostname, which is refused.
		"CanonicalDomains", "CanonicalizeFallbackLocal", "CanonicalizeMaxDots",
		"CanonicalizePermittedCNAMEs")
	unsup := func(name string, harmless ...string) {
		m[strings.ToLower(name)] = sshOption{name: name, kind: unsupported, harmless: harmless}
	}
	unsup("ProxyUseFdpass", "no", "false")
	unsup("Tunnel", "no", "false")
	unsup("RemoteCommand", "none", "")
	unsup("LocalCommand", "none", "")
	unsup("CanonicalizeHostname", "no", "false")
	unsup("BindAddress", "none", "")
	unsup("BindInterface", "none", "")
	unsup("PKCS11Provider", "none", "")
	unsup("RevokedHostKeys", "none", "")
	unsup("KnownHostsCommand", "none", "")
	unsup("PubkeyAuthentication", "yes", "true", "unbound", "host-bound")
	// Algorithm lists for the client's own signatures and for CAs: Go's
	// SSH picks these itself, so a list the operator changed cannot be
	// honoured and must not pass unnoticed. Their defaults come from
	// OpenSSH itself (see unsupportedSettings). The negotiated lists are
	// honoured: see algorithms.go.
	for _, n := range []string{"PubkeyAcceptedAlgorithms", "PubkeyAcceptedKeyTypes", "CASignatureAlgorithms"} {
		unsup(n)
	}
	return m
}()

// optionName spells a lowercase keyword as the manual does.
func optionName(key string) string {
	if o, ok := sshOptions[key]; ok {
		return o.name
	}
	return key
}

// UnsupportedOptionError is an ssh_config option, set for a host, that
// deptool cannot honour.
type UnsupportedOptionError struct {
	Host   string
	Option string // as the manual spells it
	Value  string
	File   string // the ssh_config read, for the message
}

func (e *UnsupportedOptionError) Error() string {
	v := e.Value
	if len(v) > 80 {
		v = v[:77] + "..."
	}
	return fmt.Sprintf("host %s: ssh config %s sets %s %s, which deptool does not support (see docs/ssh.md): remove it for this host",
		e.Host, e.File, e.Option, v)
}

// unsupportedSettings checks what `ssh -G` printed for a host against
// what it prints with no config at all: any option deptool does not
// honour and that differs is refused. Only the first, in keyword order,
// is reported, so the message stays one line.
func unsupportedSettings(got, defaults map[string][]string) (key, value string, bad bool) {
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		o, known := sshOptions[k]
		if known && o.kind != unsupported {
			continue
		}
		v := strings.Join(got[k], " ")
		if slices.Equal(got[k], defaults[k]) || slices.Contains(o.harmless, strings.ToLower(v)) {
			continue
		}
		if k == "localcommand" && !isYes(first(got["permitlocalcommand"])) {
			// Never run without PermitLocalCommand.
			continue
		}
		if d := listChange(v, strings.Join(defaults[k], " ")); d != "" {
			v = d
		}
		return k, v, true
	}
	return "", "", false
}

// listChange describes how an algorithm list differs from its default,
// "(adds a,b; removes c)", which says more than the whole list; "" for
// values that are not lists.
func listChange(got, def string) string {
	if !strings.Contains(got, ",") && !strings.Contains(def, ",") {
		return ""
	}
	g, d := strings.Split(got, ","), strings.Split(def, ",")
	var added, removed []string
	for _, a := range g {
		if !slices.Contains(d, a) {
			added = append(added, a)
		}
	}
	for _, a := range d {
		if !slices.Contains(g, a) {
			removed = append(removed, a)
		}
	}
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "adds "+strings.Join(added, ","))
	}
	if len(removed) > 0 {
		parts = append(parts, "removes "+strings.Join(removed, ","))
	}
	if len(parts) == 0 {
		parts = append(parts, "reorders the default list")
	}
	return "(" + strings.Join(parts, "; ") + ")"
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func isYes(v string) bool {
	switch strings.ToLower(v) {
	case "yes", "true":
		return true
	}
	return false
}
