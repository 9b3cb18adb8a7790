package agent

import (
	"context"
	"io"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// objects stores the pack that follows in data frames. The stream is read
// to its end whatever happens, so the next frame is a request again.
func (s *session) objects(ctx context.Context) error {
	stream := s.conn.ReadStream(ctx)
	if refuse := s.mayChange(); refuse != nil {
		return s.refuseStream(stream, refuse)
	}
	st, err := s.store.open(true)
	if err != nil {
		return s.refuseStream(stream, wire.Errorf(wire.CodeInternal, "%v", err))
	}
	readErr := st.ReadPack(stream)
	if err := stream.Drain(); err != nil {
		if isAgentError(err) {
			return s.conn.Send(wire.Errorf(wire.CodeAborted, "the operator aborted sending objects: %v", err))
		}
		return err // the stream broke: nobody is left to answer
	}
	if readErr != nil {
		return s.conn.Send(wire.Errorf(wire.CodeInternal, "store objects: %v", readErr))
	}
	return s.conn.Send(&wire.ObjectsReply{})
}

func (s *session) refuseStream(stream *wire.StreamReader, refuse *wire.AgentError) error {
	if err := stream.Drain(); err != nil && !isAgentError(err) {
		return err
	}
	return s.conn.Send(refuse)
}

// fetch sends the host's current commit and everything reachable from it.
func (s *session) fetch() error {
	r, err := s.store.refs()
	if err != nil {
		return s.conn.Send(asAgentError(err))
	}
	if err := s.conn.Send(&wire.FetchReply{Current: r.current}); err != nil {
		return err
	}
	err = s.conn.WriteStream(func(w io.Writer) error {
		if r.current.IsZero() {
			return nil
		}
		st, err := s.store.open(false)
		if err != nil {
			return err
		}
		_, err = st.WritePack(w, []store.ID{r.current}, nil)
		return err
	})
	if err != nil && s.conn.WriteErr() == nil {
		return nil // the stream ended with the reason; the session goes on
	}
	return err
}
