package store

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// largeObject is the size above which the store never holds an object in
// memory whole: files are hashed and stored as they are read, and objects
// are read back (into packs) as streams. A 200 MB file cost about five
// copies of itself in memory before.
const largeObject = 1 << 20

// writeFileBlob stores the file at path, of size bytes, as a blob while
// reading it once, and returns its id. The id is known only at the end, so
// unlike WriteBlob it writes even a blob the store has: large files are read
// only when their stat fields changed.
func (s *Store) writeFileBlob(path string, size int64) (ID, error) {
	obj := &fileBlob{path: path, size: size}
	s.objMu.Lock()
	defer s.objMu.Unlock()
	id, err := s.objects.SetEncodedObject(obj)
	if err == nil && obj.read != size {
		err = fmt.Errorf("%s changed while it was read (%d bytes, then %d): run again", path, size, obj.read)
	}
	if err != nil {
		s.cleanTemp(time.Now().Add(time.Second), true) // its own temp file
		return ZeroID, fmt.Errorf("store: write blob of %s: %w", path, err)
	}
	return ID(id), nil
}

// fileBlob is a blob read from a file as the store writes it; its hash is
// computed on the way.
type fileBlob struct {
	path   string
	size   int64
	hasher plumbing.Hasher
	read   int64
}

func (b *fileBlob) Hash() plumbing.Hash         { return b.hasher.Sum() }
func (b *fileBlob) Type() plumbing.ObjectType   { return plumbing.BlobObject }
func (b *fileBlob) SetType(plumbing.ObjectType) {}
func (b *fileBlob) Size() int64                 { return b.size }
func (b *fileBlob) SetSize(int64)               {}
func (b *fileBlob) Writer() (io.WriteCloser, error) {
	return nil, fmt.Errorf("store: a file blob is read-only")
}

func (b *fileBlob) Reader() (io.ReadCloser, error) {
	f, err := os.Open(b.path)
	if err != nil {
		return nil, err
	}
	b.hasher = plumbing.NewHasher(plumbing.BlobObject, b.size)
	b.read = 0
	return &hashingReader{f: f, r: io.LimitReader(f, b.size), b: b}, nil
}

type hashingReader struct {
	f *os.File
	r io.Reader
	b *fileBlob
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.b.hasher.Write(p[:n])
	h.b.read += int64(n)
	return n, err
}

func (h *hashingReader) Close() error { return h.f.Close() }
