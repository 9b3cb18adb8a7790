// Package transport connects deptool to its hosts over SSH.
//
// A host is named as in the config tree (web1) and resolved through
// ssh_config, so an operator's existing `ssh web1` setup is what deptool
// uses: Host patterns, HostName, User, Port, IdentityFile, IdentitiesOnly,
// ProxyJump, UserKnownHostsFile, StrictHostKeyChecking and ConnectTimeout
// are honoured. No ssh subprocess is involved.
//
// # Host keys
//
// Keys are checked against the known_hosts files. Only the key types known
// for a host are negotiated, so a host known by its ed25519 key is not
// asked for its RSA key and mistaken for an unknown host. An unknown key
// is refused with the command that records it; a changed key is refused,
// loudly, with the command that removes the old one, even under
// accept-new.
// StrictHostKeyChecking accept-new records unknown keys in the first
// known_hosts file. StrictHostKeyChecking no accepts any key, changed or
// not: anyone on the path can then read and alter everything deptool
// sends, secrets included. Use it only for throwaway test hosts.
//
// # Login
//
// Keys come from ssh-agent and from the identity files; an encrypted
// identity file is used only through the agent, since deptool never
// prompts. Every command runs as root: a login as another user wraps it in
// `sudo -n`, which must not ask for a password (Dial checks).
package transport
