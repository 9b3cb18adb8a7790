package diff

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// Check is one health check from an app's manifest.json: an HTTP GET that
// must answer 2xx (or ExpectStatus), or a TCP connect that must succeed.
// The agent runs the checks of the apps a deploy changed once their units
// settle, retrying until Timeout; a check that never passes rolls the host
// back. Checks only observe: there is deliberately no way to run a command.
type Check struct {
	HTTP string `json:"http,omitempty"`
	TCP  string `json:"tcp,omitempty"`
	// ExpectStatus requires this exact HTTP status instead of any 2xx; 0
	// means any 2xx.
	ExpectStatus int `json:"expect_status,omitempty"`
	// Timeout is a Go duration ("5s"); empty means DefaultCheckTimeout.
	Timeout string `json:"timeout,omitempty"`
}

// Limits of a check's timeout. The upper bound keeps a typo ("5h") from
// holding a host's lock, and its operator, for hours.
const (
	DefaultCheckTimeout = 10 * time.Second
	MaxCheckTimeout     = 5 * time.Minute
)

// String names the check as the plan, the summary and errors show it:
// the URL for HTTP, "tcp host:port" for TCP.
func (c Check) String() string {
	if c.TCP != "" {
		return "tcp " + c.TCP
	}
	if c.ExpectStatus != 0 {
		return fmt.Sprintf("%s expect %d", c.HTTP, c.ExpectStatus)
	}
	return c.HTTP
}

// Duration is how long the check may take to pass, retries included. It
// assumes Validate passed; an unparsable timeout counts as the default.
func (c Check) Duration() time.Duration {
	if c.Timeout == "" {
		return DefaultCheckTimeout
	}
	d, err := time.ParseDuration(c.Timeout)
	if err != nil {
		return DefaultCheckTimeout
	}
	return d
}

// Validate reports the first thing wrong with a check, in words that say
// what to write instead. The planner's validation and the agent (which gets
// checks over the network and runs as root) share it.
func (c Check) Validate() error {
	switch {
	case c.HTTP == "" && c.TCP == "":
		return fmt.Errorf(`names no probe; give "http" (a URL) or "tcp" (host:port)`)
	case c.HTTP != "" && c.TCP != "":
		return fmt.Errorf(`has both "http" and "tcp"; write two checks, one for each`)
	case c.HTTP != "":
		if msg := checkURL(c.HTTP); msg != "" {
			return fmt.Errorf("http %q: %s", c.HTTP, msg)
		}
	default:
		if msg := checkHostPort(c.TCP); msg != "" {
			return fmt.Errorf("tcp %q: %s", c.TCP, msg)
		}
		if c.ExpectStatus != 0 {
			return fmt.Errorf(`expect_status applies to http checks only; remove it from the tcp check`)
		}
	}
	if c.ExpectStatus != 0 && (c.ExpectStatus < 100 || c.ExpectStatus > 599) {
		return fmt.Errorf("expect_status %d is not an HTTP status; use one from 100 to 599, or leave it out to accept any 2xx", c.ExpectStatus)
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		switch {
		case err != nil:
			return fmt.Errorf(`timeout %q is not a duration; write it like "5s" or "1m30s"`, c.Timeout)
		case d <= 0:
			return fmt.Errorf("timeout %q must be more than zero", c.Timeout)
		case d > MaxCheckTimeout:
			return fmt.Errorf("timeout %q is longer than the limit of %s; a check that needs longer is better split or made faster", c.Timeout, MaxCheckTimeout)
		}
	}
	return nil
}

func checkURL(s string) string {
	if hasControl(s) {
		return "contains a control character"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a URL; write it like http://127.0.0.1:8080/healthz"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with http:// or https://, such as http://127.0.0.1:8080/healthz"
	case u.Host == "" || u.Hostname() == "":
		return "names no host; write it like http://127.0.0.1:8080/healthz"
	case u.Port() != "" && !validPort(u.Port()):
		return fmt.Sprintf("port %q is not a port number from 1 to 65535", u.Port())
	}
	return ""
}

func checkHostPort(s string) string {
	if hasControl(s) {
		return "contains a control character"
	}
	host, port, err := net.SplitHostPort(s)
	switch {
	case err != nil:
		return "must be host:port, such as 127.0.0.1:5432 or [::1]:5432"
	case host == "":
		return "names no host; write it like 127.0.0.1:5432"
	case !validPort(port):
		return fmt.Sprintf("port %q is not a port number from 1 to 65535", port)
	}
	return ""
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// checkChecks validates an app's checks for the planner's validation.
func checkChecks(d *appData) []problem {
	var probs []problem
	for i, c := range d.manifest.Checks {
		if err := c.Validate(); err != nil {
			probs = append(probs, problem{ManifestName, fmt.Sprintf("checks[%d]: %v", i, err)})
		}
	}
	return probs
}
