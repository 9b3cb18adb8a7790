package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/deptool/deptool/deploy/wire"
)

// JournalEntry is one line of journal.jsonl: one apply on the host.
type JournalEntry = wire.JournalEntry

// appendJournal adds one line and syncs it: the journal is the host's own
// audit trail and must survive the crash that follows.
func appendJournal(l layout, e JournalEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(l.journalFile(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// ReadJournal returns the journal under root, oldest first.
func ReadJournal(root string) ([]JournalEntry, error) {
	l := layout{root: root}
	f, err := os.Open(l.journalFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	var out []JournalEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var e JournalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("journal %s line %d: %w", l.journalFile(), n, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return out, nil
}

// journal answers a journal request: newest first, at most Limit.
func (s *session) journal(req *wire.JournalRequest) (*wire.JournalReply, error) {
	entries, err := ReadJournal(s.opts.Root)
	if err != nil {
		return nil, err
	}
	slices.Reverse(entries)
	if req.Limit > 0 && len(entries) > req.Limit {
		entries = entries[:req.Limit]
	}
	if entries == nil {
		entries = []JournalEntry{}
	}
	return &wire.JournalReply{Entries: entries}, nil
}
