// Package transport connects deptool to its hosts over SSH.
//
// A host is named as in the config tree (web1) and resolved through
// ssh_config, so an operator's existing `ssh web1` setup is what deptool
// uses: HostName, User, Port, IdentityFile, ProxyJump, UserKnownHostsFile,
// StrictHostKeyChecking and ConnectTimeout are honoured. Host keys are
// checked against known_hosts, and an unknown or changed key is an error
// that tells the operator what to do; no ssh subprocess is involved.
//
// Every command runs as root: a login as another user wraps it in
// `sudo -n`, which must not ask for a password.
package transport
