// Package transport connects deptool to its hosts over SSH.
//
// A host is named as in the config tree (web1) and reached as `ssh web1`
// would reach it: where there is an ssh binary, OpenSSH itself resolves
// the host (`ssh -G`, once per host and run), so Match, Include, tokens
// and defaults are OpenSSH's; without one, deptool reads the config file
// (Host blocks only). deptool speaks SSH itself, through ProxyJump hosts
// or over a ProxyCommand's stdin and stdout. The options it honours and
// refuses are in sshoptions.go and docs/ssh.md: an option that would
// change where or how to connect and that deptool cannot do is an error
// naming it, never ignored.
//
// # Host keys
//
// Keys are checked against the known_hosts files, under the host's
// HostKeyAlias if it has one; @cert-authority lines vouch for host
// certificates and @revoked lines refuse keys. Only the key types known
// for a host are negotiated, so a host known by its ed25519 key is not
// asked for its RSA key and mistaken for an unknown host. An unknown key
// is refused with the command that records it; a changed key is refused,
// loudly, with the command that removes the old one, even under
// accept-new.
// StrictHostKeyChecking accept-new records unknown keys in the first
// known_hosts file. StrictHostKeyChecking no accepts the key of a host
// never seen before without recording it, with a warning naming the host
// and the key's fingerprint: whoever answers first for that host can then
// read and alter everything deptool sends. A key that differs from the
// one recorded, or is marked @revoked, is refused under every setting, in
// the handshake, before any login or sudo password is offered.
//
// # Login
//
// Keys and user certificates come from ssh-agent and from the identity
// and certificate files; an encrypted identity file is used only through
// the agent, since deptool never prompts for a passphrase. A connection
// refused or reset before the host shows its key is tried again a few
// times; nothing after that is.
//
// Every command runs as root: a login as another user wraps it in
// `sudo -n` (or doas, or run0: Options.Become), which Dial checks. A sudo
// that asks for a password is given the one the operator typed
// (Options.BecomePassword), on its stdin, only once it has prompted.
package transport
