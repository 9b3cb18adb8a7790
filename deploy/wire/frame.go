package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Kind says what a frame carries.
type Kind byte

// Frame kinds. Values are small so that stray text on the stream (a login
// banner, a shell profile's echo) never looks like a valid header.
const (
	KindMessage Kind = 1 // a JSON message
	KindData    Kind = 2 // a chunk of a byte stream
	KindEnd     Kind = 3 // the end of a byte stream
)

func (k Kind) valid() bool { return k >= KindMessage && k <= KindEnd }

const (
	headerSize = 5
	// MaxFrame is the largest payload a frame may carry. A plan for a host
	// with tens of thousands of changed files still fits; anything larger
	// is garbage on the stream.
	MaxFrame = 16 << 20
	// ChunkSize is how much of a byte stream one data frame carries.
	ChunkSize = 64 << 10
	// readStep bounds each allocation while a frame is read, so a header
	// that lies about its size costs memory only as its bytes arrive.
	readStep = 64 << 10
)

// Frame is one unit on the stream.
type Frame struct {
	Kind    Kind
	Payload []byte
}

// ProtocolError is a stream that does not follow the protocol: garbage,
// truncation, or a message out of place.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "agent protocol: " + e.Msg }

func protocolErrorf(format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

const garbageHint = "is something else writing to stdout?"

// ReadFrame reads one frame. It returns io.EOF only when the stream ends
// cleanly between frames.
func ReadFrame(r io.Reader) (Frame, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, protocolErrorf("stream ended inside a frame header %q", h[:])
		}
		return Frame{}, err
	}
	size := binary.BigEndian.Uint32(h[:4])
	kind := Kind(h[4])
	if size > MaxFrame {
		return Frame{}, protocolErrorf("frame of %d bytes%s: %s", size, looksLikeText(h[:]), garbageHint)
	}
	if !kind.valid() {
		return Frame{}, protocolErrorf("frame of unknown kind %d%s: %s", kind, looksLikeText(h[:]), garbageHint)
	}
	payload, err := readPayload(r, int(size))
	if err != nil {
		return Frame{}, err
	}
	return Frame{Kind: kind, Payload: payload}, nil
}

// readPayload reads n bytes, growing its buffer as they arrive rather than
// trusting n up front.
func readPayload(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, readStep))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, protocolErrorf("stream ended inside a frame: got %d of %d bytes", len(buf), n)
			}
			return nil, err
		}
	}
	return buf, nil
}

// looksLikeText quotes a header made of printable ASCII: it is then almost
// certainly text someone printed, and seeing it says who.
func looksLikeText(h []byte) string {
	for _, c := range h {
		if (c < 0x20 || c > 0x7e) && c != '\n' && c != '\r' && c != '\t' {
			return ""
		}
	}
	return fmt.Sprintf(" (text %q)", h)
}

// WriteFrame writes one frame in a single Write, so frames from concurrent
// writers sharing a lock never interleave.
func WriteFrame(w io.Writer, f Frame) error {
	if len(f.Payload) > MaxFrame {
		return protocolErrorf("refusing to send a frame of %d bytes (at most %d)", len(f.Payload), MaxFrame)
	}
	buf := make([]byte, headerSize+len(f.Payload))
	binary.BigEndian.PutUint32(buf[:4], uint32(len(f.Payload)))
	buf[4] = byte(f.Kind)
	copy(buf[headerSize:], f.Payload)
	_, err := w.Write(buf)
	return err
}
