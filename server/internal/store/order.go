package store

import (
	"fmt"
	"strconv"
	"strings"
)

// Key orders records the same way in every engine: by time, then batch id,
// then position in the batch. Search pages are sorted by Key (descending
// unless oldest first), and a cursor is the Key of a page's last record.
type Key struct {
	Time    int64  // unix ns
	BatchID string // the record's batch id
	Index   int    // position of the record in its batch
}

// Compare returns -1, 0 or +1 as k sorts before, equal to or after o.
func (k Key) Compare(o Key) int {
	switch {
	case k.Time < o.Time:
		return -1
	case k.Time > o.Time:
		return 1
	case k.BatchID < o.BatchID:
		return -1
	case k.BatchID > o.BatchID:
		return 1
	case k.Index < o.Index:
		return -1
	case k.Index > o.Index:
		return 1
	}
	return 0
}

// ID returns the record's public id: the batch id, '~' and the index. It is
// the same in every engine and for live records not stored yet, so a live
// tail entry links to the stored record.
func (k Key) ID() string { return EntryID(k.BatchID, k.Index) }

// EntryID builds the id of record index of batch batchID.
func EntryID(batchID string, index int) string {
	return batchID + "~" + strconv.Itoa(index)
}

// ParseEntryID splits an id made by EntryID.
func ParseEntryID(id string) (batchID string, index int, err error) {
	i := strings.LastIndexByte(id, '~')
	if i <= 0 || i == len(id)-1 {
		return "", 0, fmt.Errorf("log id %q: %w", id, ErrNotFound)
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || n < 0 || n > 1<<20 {
		return "", 0, fmt.Errorf("log id %q: %w", id, ErrNotFound)
	}
	return id[:i], n, nil
}
