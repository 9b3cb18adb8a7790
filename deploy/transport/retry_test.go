package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"syscall"
	"testing"
	"time"
)

// fakeSleep records the waits instead of waiting; it runs out after
// budget, as a ConnectTimeout would.
type fakeSleep struct {
	waits  []time.Duration
	budget time.Duration
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.waits = append(f.waits, d)
	if f.budget -= d; f.budget < 0 {
		return context.DeadlineExceeded
	}
	return nil
}

func TestRetryBacksOffOnRefusalThenSucceeds(t *testing.T) {
	f := &fakeSleep{budget: time.Minute}
	calls := 0
	err := retry(context.Background(), f.sleep, func() (bool, error) {
		if calls++; calls < 3 {
			return true, fmt.Errorf("connect: %w", syscall.ECONNREFUSED)
		}
		return false, nil
	})
	if err != nil || calls != 3 || !slices.Equal(f.waits, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}) {
		t.Errorf("retry = %v after %d calls, waits %v", err, calls, f.waits)
	}
}

func TestRetryStopsAtAttemptsOrTimeoutWithTheLastError(t *testing.T) {
	refused := fmt.Errorf("connect: %w", syscall.ECONNREFUSED)
	for _, tc := range []struct {
		budget time.Duration
		calls  int
	}{{time.Minute, maxAttempts}, {350 * time.Millisecond, 3}} {
		f := &fakeSleep{budget: tc.budget}
		calls := 0
		err := retry(context.Background(), f.sleep, func() (bool, error) { calls++; return true, refused })
		if err != refused || calls != tc.calls {
			t.Errorf("budget %v: retry = %v after %d calls, want the refusal after %d", tc.budget, err, calls, tc.calls)
		}
	}
}

func TestRetryNeverRepeatsAPermanentFailure(t *testing.T) {
	f := &fakeSleep{budget: time.Minute}
	calls := 0
	auth := errors.New("login refused")
	if err := retry(context.Background(), f.sleep, func() (bool, error) { calls++; return false, auth }); err != auth || calls != 1 {
		t.Errorf("retry = %v after %d calls", err, calls)
	}
}

func TestTransientErrors(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("dial: %w", syscall.ECONNREFUSED):    true,
		fmt.Errorf("read: %w", syscall.ECONNRESET):      true,
		fmt.Errorf("ssh: handshake failed: %w", io.EOF): true,
		errors.New("ssh: unable to authenticate"):       false,
		fmt.Errorf("dial: %w", syscall.EHOSTUNREACH):    false,
	} {
		if isTransient(err) != want {
			t.Errorf("isTransient(%v) = %v", err, !want)
		}
	}
}
