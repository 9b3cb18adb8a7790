package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/deptool/deptool/deploy/agent"
	"github.com/deptool/deptool/deploy/transport"
)

// journalPath is the host's own record of attempts, from any store.
const journalPath = "/var/lib/deptool/journal.jsonl"

// HostJournal reads a host's journal of deploy attempts, newest first, at
// most limit entries (0: all). It only reads: no agent, no lock.
func HostJournal(ctx context.Context, host string, limit int, opts Options) ([]agent.JournalEntry, error) {
	conn, err := transport.Dial(ctx, host, opts.Transport)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out, err := conn.Run(ctx, "cat "+journalPath+" 2>/dev/null || true", nil)
	if err != nil {
		return nil, fmt.Errorf("host %s: read %s: %w", host, journalPath, err)
	}
	var entries []agent.JournalEntry
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var e agent.JournalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("host %s: %s line %d: %w", host, journalPath, line, err)
		}
		entries = append(entries, e)
	}
	slices.Reverse(entries)
	if limit > 0 && len(entries) > limit {
		entries = entries[:limit]
	}
	return entries, sc.Err()
}
