package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/deptool/deptool/deploy/secret"
	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/store"
)

// JournalEntry is one line of journal.jsonl: one apply on the host. The
// journal is a stored format (version 1), read back by every later agent
// on the host, so it is its own type, apart from wire.JournalEntry, the
// message that carries it to the operator: renaming a field of one does
// not silently change the other. Their fields are the same, so each
// converts to the other, and a field added to one only compiles once the
// other has it too. TestHostJournalFormat pins the fields and reads a
// journal as the previous release wrote it.
type JournalEntry struct {
	Time     time.Time    `json:"time"`
	Operator string       `json:"operator"`
	Deploy   store.ID     `json:"deploy"`
	From     store.ID     `json:"from"`
	To       store.ID     `json:"to"`
	Outcome  wire.Outcome `json:"outcome"`
	// Error is why the apply failed or was rolled back, and for a failed
	// rollback, after "; rollback: ", why the rollback failed.
	Error string `json:"error,omitempty"`
	// RollbackError is why the rollback failed.
	RollbackError string   `json:"rollback_error,omitempty"`
	FailedUnits   []string `json:"failed_units,omitempty"`
	FailedChecks  []string `json:"failed_checks,omitempty"`
}

// appendJournal adds one line and syncs it: the journal is the host's own
// audit trail and must survive the crash that follows. A file that does not
// end in a newline lost the end of its last line (a crash, a full disk):
// the new line starts on a line of its own, never glued to that part.
// Secrets the session met are redacted from it, as from what the agent
// sends: the journal is read back by later sessions that never knew them.
func appendJournal(l layout, e JournalEntry, r *secret.Redactor) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	data = r.JSON(data)
	f, err := os.OpenFile(l.journalFile(), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, info.Size()-1); err == nil && last[0] != '\n' {
			data = append([]byte{'\n'}, data...)
		}
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("journal %s: %w", l.journalFile(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal %s: %w", l.journalFile(), err)
	}
	return nil
}

// ReadJournal returns the journal under root, oldest first. Lines that do
// not decode are left out; see readJournal.
func ReadJournal(root string) ([]JournalEntry, error) {
	entries, _, err := readJournal(layout{root: root})
	return entries, err
}

// readJournal reads the journal, oldest first, skipping lines that do not
// decode (a line cut short by a crash or a full disk, and whatever was
// glued to one before appendJournal knew better): one bad line must not
// hide the whole history. Each skipped line is a warning.
func readJournal(l layout) (entries []JournalEntry, warnings []string, err error) {
	f, err := os.Open(l.journalFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e JournalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			warnings = append(warnings, fmt.Sprintf("journal %s line %d is damaged and left out (%v)", l.journalFile(), n, err))
			continue
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", l.journalFile(), err)
	}
	return entries, warnings, nil
}

// journal answers a journal request: newest first, at most Limit.
func (s *session) journal(req *wire.JournalRequest) (*wire.JournalReply, error) {
	entries, warnings, err := readJournal(s.l)
	if err != nil {
		return nil, err
	}
	slices.Reverse(entries)
	if req.Limit > 0 && len(entries) > req.Limit {
		entries = entries[:req.Limit]
	}
	reply := &wire.JournalReply{Entries: make([]wire.JournalEntry, len(entries)), Warnings: warnings}
	for i, e := range entries {
		reply.Entries[i] = wire.JournalEntry(e)
	}
	return reply, nil
}
