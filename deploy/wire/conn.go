package wire

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
)

// Conn is one end of the protocol: frames in from r, frames out to w. The
// operator's Client and the agent both build on it.
//
// Reads happen on a goroutine of their own so a caller can stop waiting
// when its context ends; the stream itself cannot be interrupted, so after
// that the connection is out of step and should be closed. Next and the
// readers built on it are for one goroutine at a time; sends may come from
// any goroutine.
type Conn struct {
	r      io.Reader
	frames chan received
	start  sync.Once
	done   chan struct{}
	close  sync.Once
	rerr   error // sticky: once the stream failed, it stays failed

	wmu  sync.Mutex
	w    io.Writer
	werr error // sticky: a half-written frame leaves the stream unusable

	filter func([]byte) []byte // applied to every message sent; nil: none
}

// Filter passes every message this end sends, as encoded, through f
// before it is written: the one place the agent removes secrets from what
// it says (see secret.Redactor). Data frames (objects) are left alone.
// Set it before the first Send.
func (c *Conn) Filter(f func([]byte) []byte) {
	c.filter = f
}

type received struct {
	f   Frame
	err error
}

// NewConn returns a connection reading frames from r and writing to w.
func NewConn(r io.Reader, w io.Writer) *Conn {
	return &Conn{r: r, w: w, frames: make(chan received), done: make(chan struct{})}
}

// Close stops the reading goroutine once its pending read returns. It does
// not close r or w, which belong to the caller.
func (c *Conn) Close() {
	c.close.Do(func() { close(c.done) })
}

func (c *Conn) readLoop() {
	for {
		f, err := ReadFrame(c.r)
		select {
		case c.frames <- received{f, err}:
		case <-c.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// Next returns the next frame, or io.EOF when the stream ended cleanly.
func (c *Conn) Next(ctx context.Context) (Frame, error) {
	if c.rerr != nil {
		return Frame{}, c.rerr
	}
	c.start.Do(func() { go c.readLoop() })
	select {
	case got := <-c.frames:
		c.rerr = got.err
		return got.f, got.err
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	case <-c.done:
		return Frame{}, errors.New("agent protocol: connection closed")
	}
}

// NextMessage returns the next frame, which must be a message.
func (c *Conn) NextMessage(ctx context.Context) (Message, error) {
	f, err := c.Next(ctx)
	if err != nil {
		return nil, err
	}
	if f.Kind != KindMessage {
		return nil, protocolErrorf("got a data frame where a message belongs")
	}
	return DecodeMessage(f.Payload)
}

func (c *Conn) write(f Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	if err := WriteFrame(c.w, f); err != nil {
		c.werr = err
		return err
	}
	return nil
}

// WriteErr is the error that broke the outgoing stream, if any.
func (c *Conn) WriteErr() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.werr
}

// Send writes one message.
func (c *Conn) Send(m Message) error {
	payload, err := EncodeMessage(m)
	if err != nil {
		return err
	}
	if c.filter != nil {
		payload = c.filter(payload)
	}
	return c.write(Frame{Kind: KindMessage, Payload: payload})
}

// WriteStream sends what fn writes as data frames followed by an end frame.
// If fn fails, the stream ends with an error message (CodeAborted) instead,
// so the receiver can tell a whole stream from a truncated one, and
// WriteStream returns fn's error.
func (c *Conn) WriteStream(fn func(io.Writer) error) error {
	bw := bufio.NewWriterSize(chunkWriter{c}, ChunkSize)
	err := fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		if sendErr := c.Send(Errorf(CodeAborted, "stream aborted: %v", err)); sendErr != nil {
			return errors.Join(err, sendErr)
		}
		return err
	}
	return c.write(Frame{Kind: KindEnd})
}

type chunkWriter struct{ c *Conn }

func (w chunkWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += ChunkSize {
		chunk := p[off:min(off+ChunkSize, len(p))]
		if err := w.c.write(Frame{Kind: KindData, Payload: chunk}); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

// StreamReader reads a byte stream sent with WriteStream. Read returns
// io.EOF at the end frame, and the sender's *AgentError if it aborted.
type StreamReader struct {
	c    *Conn
	ctx  context.Context
	buf  []byte
	err  error
	done bool // the stream's last frame has been read
}

// ReadStream returns a reader for the byte stream that comes next.
func (c *Conn) ReadStream(ctx context.Context) *StreamReader {
	return &StreamReader{c: c, ctx: ctx}
}

func (s *StreamReader) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		s.fill()
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func (s *StreamReader) fill() {
	f, err := s.c.Next(s.ctx)
	switch {
	case errors.Is(err, io.EOF):
		s.err = protocolErrorf("stream ended inside a data stream: %v", io.ErrUnexpectedEOF)
	case err != nil:
		s.err = err
	case f.Kind == KindData:
		s.buf = f.Payload
	case f.Kind == KindEnd:
		s.err, s.done = io.EOF, true
	default:
		s.err, s.done = streamAbort(f.Payload), true
	}
}

// streamAbort turns a message inside a data stream into the error it means.
func streamAbort(payload []byte) error {
	m, err := DecodeMessage(payload)
	if err != nil {
		return err
	}
	if ae, ok := m.(*AgentError); ok {
		return ae
	}
	return protocolErrorf("got a %s message inside a data stream", m.Type())
}

// Drain discards the rest of the stream so the next frame is a message
// again. It returns nil when the stream ended with its end frame.
func (s *StreamReader) Drain() error {
	for !s.done && s.err == nil {
		s.buf = nil
		s.fill()
	}
	if errors.Is(s.err, io.EOF) {
		return nil
	}
	return s.err
}

// Aborted reports whether the sender ended the stream with an error.
func (s *StreamReader) Aborted() bool {
	var ae *AgentError
	return s.done && errors.As(s.err, &ae)
}

// Complete reports whether the stream ended with its end frame.
func (s *StreamReader) Complete() bool { return s.done && errors.Is(s.err, io.EOF) }
