package transport

import (
	"fmt"
	"time"
)

// keepAlive probes the host every interval and closes the connection
// after max probes in a row go unanswered: a host that vanished without a
// FIN (powered off, network cut) would otherwise hang a deploy for as
// long as TCP retransmits, a quarter of an hour.
func (c *Conn) keepAlive(every time.Duration, max int) {
	t := time.NewTicker(every)
	defer t.Stop()
	k := keeper{max: max, probe: func() bool { return c.probe(every) }}
	if k.run(t.C, c.closed) {
		c.lose(fmt.Errorf("no answer to %d keepalives %v apart", max, every))
	}
}

// probe sends one keepalive and reports whether the host answered within
// the timeout. Any answer counts, even a refusal: sshd answers requests
// it does not know with failure.
func (c *Conn) probe(timeout time.Duration) bool {
	answered := make(chan error, 1)
	go func() {
		_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
		answered <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-answered:
		return err == nil
	case <-t.C:
		return false
	case <-c.closed:
		return true
	}
}

// keeper counts failed probes; it is apart from the clock so the rule can
// be tested without one.
type keeper struct {
	max   int
	probe func() bool
}

// run probes at each tick until stop closes, and reports true once max
// probes in a row have failed.
func (k keeper) run(ticks <-chan time.Time, stop <-chan struct{}) bool {
	missed := 0
	for {
		select {
		case <-stop:
			return false
		case <-ticks:
		}
		if k.probe() {
			missed = 0
			continue
		}
		if missed++; missed >= k.max {
			return true
		}
	}
}
