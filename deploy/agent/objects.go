package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// objects stores the pack that follows in data frames. The stream is read
// to its end whatever happens, so the next frame is a request again. Then
// it checks the commits the operator wants here are whole: a store that
// lost objects says which one, and the operator sends everything.
func (s *session) objects(ctx context.Context, req *wire.ObjectsRequest) error {
	stream := s.conn.ReadStream(ctx)
	if refuse := s.mayChange(); refuse != nil {
		return s.refuseStream(stream, refuse)
	}
	st, err := s.store.open(true)
	if err != nil {
		return s.refuseStream(stream, wire.Errorf(wire.CodeInternal, "%v", err))
	}
	// Under the lock no other agent writes a pack: what an interrupted
	// one left (a full disk, a killed agent) is garbage that may hold the
	// disk full.
	if _, err := st.CleanPacks(); err != nil {
		return s.refuseStream(stream, wire.Errorf(wire.CodeInternal, "%v", err))
	}
	// A pack that no longer matches its checksum is set aside, so the
	// objects it held read as missing and the operator sends both
	// histories whole: a damaged store is rebuilt as a lost one is.
	if aside, err := st.SetAsideDamagedPacks(); err != nil {
		return s.refuseStream(stream, wire.Errorf(wire.CodeInternal, "%v", err))
	} else if len(aside) > 0 {
		s.store.st = nil // go-git still holds the indexes of what was set aside
		if st, err = s.store.open(true); err != nil {
			return s.refuseStream(stream, wire.Errorf(wire.CodeInternal, "%v", err))
		}
	}
	readErr := st.ReadPack(s.streamed(stream))
	if err := stream.Drain(); err != nil {
		if isAgentError(err) {
			return s.conn.Send(wire.Errorf(wire.CodeAborted, "the operator aborted sending objects: %v", err))
		}
		return err // the stream broke: nobody is left to answer
	}
	if readErr != nil {
		hint := ""
		if errors.Is(readErr, syscall.ENOSPC) {
			hint = ": free space there and deploy again (what this pack began is removed)"
		}
		return s.conn.Send(wire.Errorf(wire.CodeInternal, "store objects in %s: %v%s", s.l.storeDir(), readErr, hint))
	}
	missing, ok, err := st.Missing(req.Want...)
	if err != nil {
		return s.conn.Send(wire.Errorf(wire.CodeInternal, "check the store %s: %v", s.l.storeDir(), err))
	}
	if ok {
		return s.conn.Send(&wire.ObjectsReply{Missing: missing})
	}
	if err := s.store.restoreRefs(); err != nil {
		return s.conn.Send(asAgentError(err))
	}
	return s.conn.Send(&wire.ObjectsReply{})
}

func (s *session) refuseStream(stream *wire.StreamReader, refuse *wire.AgentError) error {
	if err := stream.Drain(); err != nil && !isAgentError(err) {
		return err
	}
	return s.conn.Send(refuse)
}

// damage replaces err, met reading the host store, with one line saying
// the store is damaged and what repairs it, when a pack fails its
// checksum: "zlib: invalid checksum" alone tells nobody what to do.
func (s *session) damage(err error) error {
	if err == nil {
		return nil
	}
	st, oerr := s.store.open(false)
	if oerr != nil || st == nil {
		return err
	}
	damaged, derr := st.DamagedPacks()
	if derr != nil || len(damaged) == 0 {
		return err
	}
	return wire.Errorf(wire.CodeInternal, "%s", damageText(s.l.storeDir(), damaged))
}

// damageText says what is damaged and what repairs it.
func damageText(dir string, damaged []store.DamagedPack) string {
	more := ""
	if len(damaged) > 1 {
		more = fmt.Sprintf(" and %d more packs", len(damaged)-1)
	}
	return fmt.Sprintf("the host store %s is damaged (%s: %s%s): the next deploy that changes this host rebuilds it from the operator's store, and `deptool repair` does now", dir, damaged[0].Name, damaged[0].Reason, more)
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
		if st == nil || r.fromJournal {
			return fmt.Errorf("the host store %s lost the objects of %s, which the journal says is deployed: deploy to the host to rebuild the store from the operator's", s.l.storeDir(), r.current.Short())
		}
		_, err = st.WritePack(w, []store.ID{r.current}, nil)
		return s.damage(err)
	})
	if err != nil && s.conn.WriteErr() == nil {
		return nil // the stream ended with the reason; the session goes on
	}
	return err
}
