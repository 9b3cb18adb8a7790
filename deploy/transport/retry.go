package transport

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"
)

// Backoff between attempts to connect: short at first, since a refused
// connection is often sshd restarting (which takes a few hundred
// milliseconds), and a few attempts only (1.5 s of waiting in all), so a
// host that is really down is reported at once; the hop's ConnectTimeout
// ends them sooner if it is shorter.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
	maxAttempts  = 5
)

// retry calls attempt until it succeeds, fails for good (transient
// false), or ctx ends; then the last attempt's error is returned, so the
// operator sees why the host refused rather than that time ran out.
// sleep is injected so the rule is tested without a clock.
func retry(ctx context.Context, sleep func(context.Context, time.Duration) error, attempt func() (transient bool, err error)) error {
	wait := firstBackoff
	for n := 1; ; n++ {
		transient, err := attempt()
		if err == nil || !transient || n == maxAttempts {
			return err
		}
		if sleep(ctx, wait) != nil {
			return err
		}
		wait = min(2*wait, maxBackoff)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// isTransient: the host's sshd is (re)starting or shedding load. An
// EOF during the key exchange is what MaxStartups looks like.
func isTransient(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
