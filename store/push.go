package store

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// Push sends the local records the remote lacks, requiring each remote ref
// to be where the last fetch found it. It reports whether anything was
// sent.
//
// The pack is ours, not go-git's push: go-git's encoder searches every
// object for deltas against its neighbours and compresses at zlib's
// default level, and on a store of large random files (16 x 16 MiB) that
// ran for minutes without looking at the push's context. Ours packs each
// object whole at zlib's fastest level, into a spool while the store is
// locked, checking the context between and within objects; the deadline
// also ends the send (see send).
func (s *Store) Push(ctx context.Context, url string, auth RemoteAuth) (bool, error) {
	updates, err := s.pushUpdates()
	if err != nil || len(updates) == 0 {
		return false, err
	}
	if err := s.push(ctx, url, auth, updates); err != nil {
		return false, fmt.Errorf("store: push to %s: %w", url, err)
	}
	// What was pushed is what the remote holds now: the base of the next
	// integration.
	for _, u := range updates {
		ref := plumbing.ReferenceName(trackingPrefix + u.name)
		if u.to.IsZero() {
			err = s.removeRef(ref)
		} else {
			_, err = s.update(ref, false, func(ID, bool) (ID, error) { return u.to, nil })
		}
		if err != nil {
			return true, err
		}
	}
	return true, nil
}

func (s *Store) push(ctx context.Context, url string, auth RemoteAuth, updates []refUpdate) error {
	l, ep, err := login(url, auth)
	if err != nil {
		return err
	}
	defer l.Done()
	cl, err := client.NewClient(ep)
	if err != nil {
		return err
	}
	sess, err := cl.NewReceivePackSession(ep, l.Auth)
	if err != nil {
		return err
	}
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		sess.Close()
		return err
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(adv.Capabilities)
	if !adv.Capabilities.Supports(capability.Atomic) {
		sess.Close()
		return errors.New("the remote cannot update refs atomically (no 'atomic' capability)")
	}
	_ = req.Capabilities.Set(capability.Atomic)
	// The side band carries what the remote's hooks and checks print: the
	// reason, when it refuses the push.
	if adv.Capabilities.Supports(capability.Sideband64k) {
		_ = req.Capabilities.Set(capability.Sideband64k)
	} else if adv.Capabilities.Supports(capability.Sideband) {
		_ = req.Capabilities.Set(capability.Sideband)
	}
	var wants []ID
	for _, u := range updates {
		ref := "refs/" + u.name
		// The remote refuses a command whose old id is not what it has;
		// checking first says so without sending the pack.
		if ID(adv.References[ref]) != u.from {
			sess.Close()
			return fmt.Errorf("%w (%s is %s there, the last fetch saw %s)", ErrRemoteMoved, ref, ID(adv.References[ref]).Short(), u.from.Short())
		}
		req.Commands = append(req.Commands, &packp.Command{Name: plumbing.ReferenceName(ref), Old: u.from.Hash(), New: u.to.Hash()})
		if !u.to.IsZero() {
			wants = append(wants, u.to)
		}
	}
	var haves []ID
	for _, h := range adv.References {
		haves = append(haves, ID(h))
	}
	if len(wants) > 0 {
		sp := newSpool(s.spoolDir())
		defer sp.close()
		if err := s.writeFastPack(ctx, sp, wants, haves); err != nil {
			sess.Close()
			return err
		}
		r, err := sp.reader()
		if err != nil {
			sess.Close()
			return err
		}
		req.Packfile = io.NopCloser(ctxReader{ctx, r})
	}
	return send(ctx, sess, req)
}

// sendGrace is how long after its deadline a send may take to end by
// itself before Push gives up on it.
const sendGrace = 2 * time.Second

// send hands the request to the remote. At the deadline the pack reads
// as ended: the remote gets a truncated pack, refuses it, changes no ref
// and ends. go-git's own cancellation kills the receiving process but
// keeps its input open, and a local remote's unpacker then waits on that
// input forever, with the push. A remote that no longer reads at all is
// left behind after sendGrace.
func send(ctx context.Context, sess transport.ReceivePackSession, req *packp.ReferenceUpdateRequest) error {
	var said syncBuffer // what the remote's hooks and checks printed
	req.Progress = &said
	done := make(chan error, 1)
	go func() {
		rs, err := sess.ReceivePack(context.WithoutCancel(ctx), req)
		if err == nil && rs != nil {
			err = rs.Error()
		}
		if cerr := sess.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		t := time.NewTimer(sendGrace)
		defer t.Stop()
		select {
		case err = <-done:
		case <-t.C:
			return fmt.Errorf("the remote did not answer: %w", ctx.Err())
		}
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("not sent: %w", cerr)
	}
	if err != nil {
		return pushError(err, said.String())
	}
	return nil
}

// ctxReader reads r until ctx is done, then reads as ended.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, io.EOF
	}
	return c.r.Read(p)
}

// writeFastPack writes a pack of every object reachable from wants and
// not from the haves this store knows: each object whole, compressed at
// zlib's fastest level.
func (s *Store) writeFastPack(ctx context.Context, w io.Writer, wants, haves []ID) error {
	s.objMu.Lock()
	defer s.objMu.Unlock()
	objs, err := s.objectsToSend(wants, haves)
	if err != nil {
		return err
	}
	pw := &packWriter{w: w, sum: sha1.New()}
	var head [12]byte
	copy(head[:], "PACK")
	binary.BigEndian.PutUint32(head[4:], 2)
	binary.BigEndian.PutUint32(head[8:], uint32(len(objs)))
	pw.write(head[:])
	zw, _ := zlib.NewWriterLevel(pw, zlib.BestSpeed)
	for _, h := range objs {
		if err := ctx.Err(); err != nil {
			return err
		}
		obj, err := s.objects.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return fmt.Errorf("object %s: %w", h, err)
		}
		pw.write(entryHeader(obj.Type(), obj.Size()))
		r, err := obj.Reader()
		if err != nil {
			return fmt.Errorf("object %s: %w", h, err)
		}
		zw.Reset(pw)
		_, err = io.Copy(zw, ctxReader{ctx, r})
		r.Close()
		if err == nil {
			err = zw.Close()
		}
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return fmt.Errorf("object %s: %w", h, err)
		}
		if pw.err != nil {
			return pw.err
		}
	}
	pw.write(pw.sum.Sum(nil))
	return pw.err
}

// entryHeader is a pack entry's type and size: 3 bits of type and 4 of
// size, then 7 bits of size a byte, low first.
func entryHeader(t plumbing.ObjectType, size int64) []byte {
	b := []byte{byte(t)<<4 | byte(size&0x0f)}
	size >>= 4
	for size > 0 {
		b[len(b)-1] |= 0x80
		b = append(b, byte(size&0x7f))
		size >>= 7
	}
	return b
}

// packWriter writes a pack and sums it for its trailer; the first error
// sticks.
type packWriter struct {
	w   io.Writer
	sum hash.Hash
	err error
}

func (p *packWriter) Write(b []byte) (int, error) {
	p.write(b)
	if p.err != nil {
		return 0, p.err
	}
	return len(b), nil
}

func (p *packWriter) write(b []byte) {
	if p.err != nil {
		return
	}
	if _, p.err = p.w.Write(b); p.err == nil {
		p.sum.Write(b)
	}
}

// syncBuffer collects what the remote prints while the send runs on its
// own goroutine, which may outlive a push that gave up at its deadline.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
