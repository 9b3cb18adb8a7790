package transport

import (
	"fmt"
	"time"
)

// ConfigEnv names the environment variable that points deptool at an
// ssh_config other than ~/.ssh/config.
const ConfigEnv = "DEPTOOL_SSH_CONFIG"

// Defaults for what ssh_config and Options leave unset.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepAlive      = 15 * time.Second
	DefaultKeepAliveMax   = 3
)

// Options configure Dial. The zero value reads the environment.
type Options struct {
	// ConfigFile is the ssh_config to read. Empty means $DEPTOOL_SSH_CONFIG,
	// or else what OpenSSH reads by default (~/.ssh/config, which may be
	// missing, and /etc/ssh/ssh_config). A file named explicitly (here or
	// in the environment) must exist, and is the only one read (ssh -F).
	ConfigFile string

	// AgentSocket is the ssh-agent to ask for keys. Empty means
	// $SSH_AUTH_SOCK; NoAgent ignores any agent.
	AgentSocket string
	NoAgent     bool

	// KeepAlive is how often an idle connection is probed; after
	// KeepAliveMax probes in a row go unanswered it is closed, so a dead
	// host is noticed instead of hanging a deploy. Zero means the default;
	// a negative KeepAlive turns probing off.
	KeepAlive    time.Duration
	KeepAliveMax int

	// Become names how a login user other than root becomes root on a
	// host: "sudo" (the default, also for ""), "doas" or "run0". Each runs
	// non-interactively; see BecomePassword for a sudo that asks.
	Become func(host string) string

	// BecomePassword, if set, is asked for the password of a host where
	// sudo wants one, and only then. It is called from many goroutines and
	// should ask the operator once (--ask-become-pass) and return the same
	// answer to every host. The password is sent to sudo on its stdin,
	// after sudo has prompted for it, and kept only in memory.
	BecomePassword func(host string) ([]byte, error)

	// Notify, if set, receives messages the operator should see but that
	// are not errors, such as a host key added under accept-new.
	Notify func(msg string)
}

// keepAlive is the probing interval and count for a host: Options, else
// the host's ServerAliveInterval and ServerAliveCountMax, else the
// defaults. A ServerAliveInterval of 0 (OpenSSH's default, off) means
// deptool's default: a deploy must notice a dead host.
func (o Options) keepAlive(h *hop) (time.Duration, int) {
	every, max := o.KeepAlive, o.KeepAliveMax
	if every == 0 {
		every = h.KeepAlive
	}
	if every == 0 {
		every = DefaultKeepAlive
	}
	if max <= 0 {
		max = h.KeepAliveMax
	}
	if max <= 0 {
		max = DefaultKeepAliveMax
	}
	return every, max
}

func (o Options) becomeMethod(host string) (string, error) {
	m := BecomeSudo
	if o.Become != nil {
		if v := o.Become(host); v != "" {
			m = v
		}
	}
	switch m {
	case BecomeSudo, BecomeDoas, BecomeRun0:
		return m, nil
	}
	return "", fmt.Errorf("host %s: become method %q: want sudo, doas or run0", host, m)
}

func (o Options) notify(msg string) {
	if o.Notify != nil {
		o.Notify(msg)
	}
}
