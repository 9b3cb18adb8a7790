package store

import (
	"bytes"
	"io"
	"os"
)

// spoolMemory is how much of a pack a spool keeps in memory before it
// goes on in a file: a steady deploy's packs are kilobytes, a first
// contact's may hold files of hundreds of megabytes.
const spoolMemory = 4 << 20

// spool holds a pack between the object storage and the network, so that
// the storage's lock is never held while a peer sets the pace. A host on a
// slow or cut link would otherwise stall every other host's send, and a
// stalled host is released only by SSH keepalive, after a minute.
//
// What does not fit in memory goes to a file among the store's packs,
// named like the temporary packs the store clears away, and unlinked at
// once: it holds the store's own objects and vanishes with the process.
type spool struct {
	dir  string // "" keeps everything in memory
	mem  bytes.Buffer
	file *os.File
}

func newSpool(dir string) *spool { return &spool{dir: dir} }

func (sp *spool) Write(p []byte) (int, error) {
	if sp.file == nil && (sp.dir == "" || sp.mem.Len()+len(p) <= spoolMemory) {
		return sp.mem.Write(p)
	}
	if sp.file == nil {
		f, err := os.CreateTemp(sp.dir, "tmp_pack_spool_")
		if err != nil {
			return 0, err
		}
		os.Remove(f.Name())
		sp.file = f
	}
	return sp.file.Write(p)
}

// reader reads back everything written, from the start.
func (sp *spool) reader() (io.Reader, error) {
	if sp.file == nil {
		return bytes.NewReader(sp.mem.Bytes()), nil
	}
	if _, err := sp.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.MultiReader(bytes.NewReader(sp.mem.Bytes()), sp.file), nil
}

func (sp *spool) close() error {
	sp.mem = bytes.Buffer{}
	if sp.file == nil {
		return nil
	}
	return sp.file.Close()
}
