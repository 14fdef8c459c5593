package store

import (
	"encoding/base64"
	"encoding/binary"
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

// EncodeCursor encodes k as an opaque, URL-safe cursor.
func EncodeCursor(k Key) string {
	b := make([]byte, 0, 16+len(k.BatchID))
	b = binary.BigEndian.AppendUint64(b, uint64(k.Time))
	b = binary.AppendUvarint(b, uint64(k.Index))
	b = append(b, k.BatchID...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor decodes a cursor made by EncodeCursor.
func DecodeCursor(c string) (Key, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 9 {
		return Key{}, ErrBadCursor
	}
	t := int64(binary.BigEndian.Uint64(b))
	idx, n := binary.Uvarint(b[8:])
	if n <= 0 || idx > 1<<20 {
		return Key{}, ErrBadCursor
	}
	return Key{Time: t, Index: int(idx), BatchID: string(b[8+n:])}, nil
}
