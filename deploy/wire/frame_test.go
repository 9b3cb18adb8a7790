package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	frames := []Frame{
		{Kind: KindMessage, Payload: []byte(`{"type":"ping","body":{"seq":1}}`)},
		{Kind: KindData, Payload: bytes.Repeat([]byte("x"), 3*readStep+7)},
		{Kind: KindEnd, Payload: []byte{}},
	}
	for _, f := range frames {
		if err := WriteFrame(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range frames {
		got, err := ReadFrame(&buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Kind != want.Kind || !bytes.Equal(got.Payload, want.Payload) {
			t.Errorf("frame %d: kind %d, %d bytes; want kind %d, %d bytes", i, got.Kind, len(got.Payload), want.Kind, len(want.Payload))
		}
	}
	if _, err := ReadFrame(&buf); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

func TestFrameErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"oversized", "\xc0\x00\x00\x00\x01", "agent protocol: frame of 3221225472 bytes: is something else writing to stdout?"},
		{"text", "Welcome to web1\n", `agent protocol: frame of 1466264675 bytes (text "Welco"): is something else writing to stdout?`},
		{"unknown kind", "\x00\x00\x00\x01\x09x", "agent protocol: frame of unknown kind 9: is something else writing to stdout?"},
		{"truncated header", "\x00\x00", `agent protocol: stream ended inside a frame header "\x00\x00\x00\x00\x00"`},
		{"truncated payload", "\x00\x00\x00\x05\x01abc", "agent protocol: stream ended inside a frame: got 3 of 5 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(strings.NewReader(tt.input))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant %s", err, tt.want)
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Errorf("%T is not a *ProtocolError", err)
			}
		})
	}
}

func TestWriteFrameRefusesOversize(t *testing.T) {
	err := WriteFrame(io.Discard, Frame{Kind: KindData, Payload: make([]byte, MaxFrame+1)})
	if err == nil {
		t.Fatal("an oversized frame was written")
	}
}

// A header may claim up to MaxFrame bytes; the reader must not take that
// on trust and allocate it before the bytes arrive.
func TestReadFrameAllocatesAsBytesArrive(t *testing.T) {
	input := []byte("\x00\xff\xff\xff\x02short")
	allocated := measureAlloc(func() { ReadFrame(bytes.NewReader(input)) })
	if allocated > 2*readStep {
		t.Errorf("reading a 5-byte payload that claims 16 MiB allocated %d bytes", allocated)
	}
}

func measureAlloc(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func FuzzReadFrame(f *testing.F) {
	var good bytes.Buffer
	WriteFrame(&good, Frame{Kind: KindMessage, Payload: []byte(`{"type":"ping","body":{"seq":3}}`)})
	WriteFrame(&good, Frame{Kind: KindData, Payload: []byte("PACK")})
	WriteFrame(&good, Frame{Kind: KindEnd})
	f.Add(good.Bytes())
	f.Add([]byte("\xc0\x00\x00\x00\x01"))
	f.Add([]byte("\x00\xff\xff\xff\x02"))
	f.Add([]byte("Last login: Mon"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var allocated uint64
		for {
			var f Frame
			var err error
			allocated += measureAlloc(func() { f, err = ReadFrame(r) })
			if err != nil {
				break
			}
			if len(f.Payload) > MaxFrame || cap(f.Payload) > MaxFrame {
				t.Fatalf("frame of %d bytes (cap %d) beyond MaxFrame", len(f.Payload), cap(f.Payload))
			}
			if !f.Kind.valid() {
				t.Fatalf("frame of kind %d accepted", f.Kind)
			}
			if f.Kind == KindMessage {
				DecodeMessage(f.Payload) // must not panic either
			}
		}
		// Whatever the headers claim, memory follows the bytes that came.
		if limit := uint64(4*len(data) + 4*readStep); allocated > limit {
			t.Fatalf("%d input bytes made the reader allocate %d bytes", len(data), allocated)
		}
	})
}
