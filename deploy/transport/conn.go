package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"golang.org/x/crypto/ssh"
)

// Conn is a connection to one host. Its methods may be called from many
// goroutines: each command runs in its own session of the one connection.
type Conn struct {
	host    string
	user    string
	client  *ssh.Client   // the host itself
	clients []*ssh.Client // every hop, jump hosts first
	become  become

	once   sync.Once
	closed chan struct{}
	mu     sync.Mutex
	lost   error // why the connection ended, if not by Close
}

func newConn(ctx context.Context, host string, h *hop, clients []*ssh.Client, opts Options) (*Conn, error) {
	c := &Conn{
		host:    host,
		user:    h.User,
		client:  clients[len(clients)-1],
		clients: clients,
		closed:  make(chan struct{}),
	}
	go c.watch()
	if h.User != "root" {
		m, err := opts.becomeMethod(host)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.become.method = m
		if err := c.checkBecome(ctx, opts); err != nil {
			c.Close()
			return nil, err
		}
	}
	if every, max := opts.keepAlive(h); every > 0 {
		go c.keepAlive(every, max)
	}
	return c, nil
}

// Host returns the host's name as given to Dial.
func (c *Conn) Host() string { return c.host }

// User returns the user logged in as; commands run as root regardless.
func (c *Conn) User() string { return c.user }

// Close ends the connection and those of its jump hosts. Processes still
// running see their stdin closed; they are not killed.
func (c *Conn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		for i := len(c.clients) - 1; i >= 0; i-- {
			if e := c.clients[i].Close(); e != nil && err == nil && !errors.Is(e, net.ErrClosed) {
				err = e
			}
		}
	})
	if err != nil {
		return fmt.Errorf("host %s: close: %w", c.host, err)
	}
	return nil
}

// watch notices the host hanging up (or a jump host's connection ending)
// and closes the rest, so no hop is left open.
func (c *Conn) watch() {
	err := c.client.Wait()
	select {
	case <-c.closed:
		return
	default:
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = errors.New("the host closed the connection")
	}
	c.lose(err)
}

// lose closes the connection for a reason the caller did not ask for;
// later calls report it.
func (c *Conn) lose(err error) {
	c.mu.Lock()
	if c.lost == nil {
		c.lost = err
	}
	c.mu.Unlock()
	c.Close()
}

// fail wraps an error of an operation, preferring the reason the
// connection was lost when there is one: "EOF" helps nobody.
func (c *Conn) fail(op string, err error) error {
	c.mu.Lock()
	lost := c.lost
	c.mu.Unlock()
	if lost != nil {
		return fmt.Errorf("host %s: %s: connection lost: %w", c.host, op, lost)
	}
	select {
	case <-c.closed:
		return fmt.Errorf("host %s: %s: connection closed", c.host, op)
	default:
	}
	return fmt.Errorf("host %s: %s: %w", c.host, op, err)
}

func (c *Conn) session(op string) (*ssh.Session, error) {
	s, err := c.client.NewSession()
	if err != nil {
		return nil, c.fail(op, err)
	}
	return s, nil
}
