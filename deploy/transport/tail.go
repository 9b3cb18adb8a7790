package transport

import (
	"strings"
	"sync"
)

// stderrTail is how much of a command's stderr is kept for its error.
const stderrTail = 8 << 10

// tail keeps the last max bytes written to it: the end of stderr is where
// a failing command says why, and a chatty one must not fill memory.
type tail struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	trunc bool
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.trunc = true
	}
	return len(p), nil
}

// String returns what was kept, trimmed, marked when the start was cut.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if t.trunc && s != "" {
		s = "..." + s
	}
	return s
}
