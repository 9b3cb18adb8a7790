package transport

import "time"

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
	// or else ~/.ssh/config, which may be missing. A file named explicitly
	// (here or in the environment) must exist. /etc/ssh/ssh_config is not
	// read, so the same file gives the same result on every machine.
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

	// Notify, if set, receives messages the operator should see but that
	// are not errors, such as a host key added under accept-new.
	Notify func(msg string)
}

func (o Options) keepAlive() (time.Duration, int) {
	every, max := o.KeepAlive, o.KeepAliveMax
	if every == 0 {
		every = DefaultKeepAlive
	}
	if max <= 0 {
		max = DefaultKeepAliveMax
	}
	return every, max
}

func (o Options) notify(msg string) {
	if o.Notify != nil {
		o.Notify(msg)
	}
}
