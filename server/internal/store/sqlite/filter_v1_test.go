package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/jsonattr"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// The filterV1 writer, as blocks were built before schema version 2; kept
// here to write old-format blocks.

func newBloomV1(records int) bloom {
	bits := 1024
	for bits < records*96 && bits < 1<<20 {
		bits <<= 1
	}
	return make(bloom, bits/8)
}

func (b bloom) addText(s string) {
	if !isASCII(s) {
		s = strings.ToLower(s)
	}
	start := -1
	h := uint64(fnvOffset ^ wordSeed)
	for i := 0; i < len(s); i++ {
		c := lower(s[i])
		if i+2 < len(s) {
			b.set(trigramHash(c, lower(s[i+1]), lower(s[i+2])))
		}
		if isWordByte(c) {
			if start < 0 {
				start, h = i, fnvOffset^wordSeed
			}
			h = (h ^ uint64(c)) * fnvPrime
			continue
		}
		if start >= 0 {
			b.set((h ^ 0xff) * mix)
			start = -1
		}
	}
	if start >= 0 {
		b.set((h ^ 0xff) * mix)
	}
}

func buildBloomV1(bs []*sawmillv1.LogBatch) bloom {
	n := 0
	for _, b := range bs {
		n += len(b.GetRecords())
	}
	bl := newBloomV1(n)
	for _, b := range bs {
		for _, r := range b.GetRecords() {
			bl.addText(r.GetBody())
			jsonattr.EachBytes(r.GetAttributesJson(), func(k, v []byte) bool { bl.set(attrHash(k, v)); return true })
		}
	}
	return bl
}

func v1Batches(svc string, seq int) []*sawmillv1.LogBatch {
	var bs []*sawmillv1.LogBatch
	for i := range 2 {
		b := &sawmillv1.LogBatch{BatchId: fmt.Sprintf("%s-%d-%d", svc, seq, i), Resource: &sawmillv1.Resource{Service: svc}}
		for j := range 100 {
			body := fmt.Sprintf("order %d created for user %d", seq*1000+i*100+j, j%7)
			if j == 42 {
				body += fmt.Sprintf(" Rare%c here", 'A'+seq)
			}
			b.Records = append(b.Records, &sawmillv1.LogRecord{
				TimeUnixNano:   uint64(1_700_000_000_000_000_000 + seq*1_000_000 + i*1000 + j),
				SeverityNumber: sawmillv1.SeverityNumber_SEVERITY_NUMBER_INFO,
				Body:           body,
				AttributesJson: fmt.Appendf(nil, `{"user_id":%d,"seq":"s%d"}`, j%7, seq),
			})
		}
		bs = append(bs, b)
	}
	return bs
}

// bruteCount counts the records of v1Batches 0-4 that match f.
func bruteCount(f store.Filter) int {
	m := store.NewMatcher(f)
	n := 0
	for seq := range 5 {
		for _, b := range v1Batches("orders", seq) {
			for _, r := range b.GetRecords() {
				if m.Match(b.GetResource(), r) {
					n++
				}
			}
		}
	}
	return n
}

// TestFilterV1BlocksStillAnswer writes a store as schema version 1 did
// (blocks with the old record-count-sized bloom), opens it with
// this code (which migrates it), adds new blocks, and checks that searches
// and counts over old and new blocks are exact, and that old blocks are
// still pruned by their filter.
func TestFilterV1BlocksStillAnswer(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "logs.db")
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	for _, stmt := range schema[0] {
		_, err := db.Exec(stmt)
		require.NoError(t, err)
	}
	_, err = db.Exec(`PRAGMA user_version = 1`)
	require.NoError(t, err)
	c := &codec{}
	var v1 []bloom
	for seq := range 3 {
		bs := v1Batches("orders", seq)
		blk, _, err := c.build("orders", bs, nil)
		require.NoError(t, err)
		bl := buildBloomV1(bs)
		v1 = append(v1, bl)
		l := blk.levels
		res, err := db.Exec(`INSERT INTO blocks
			(service, min_time, max_time, records, max_sev, n_trace, n_debug, n_info, n_warn, n_error, n_fatal, bloom, data)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			blk.service, blk.minTime, blk.maxTime, blk.records, blk.maxSev, l[0], l[1], l[2], l[3], l[4], l[5], []byte(bl), blk.data)
		require.NoError(t, err)
		id, err := res.LastInsertId()
		require.NoError(t, err)
		for _, ref := range blk.batches {
			_, err := db.Exec(`INSERT INTO batches (id, block_id, first, n) VALUES (?,?,?,?)`, ref.id, id, ref.first, ref.n)
			require.NoError(t, err)
		}
	}
	require.NoError(t, db.Close())

	// The old filter still prunes: an old block rules out another block's
	// rare word and attribute value, and lets its own through.
	for seq, bl := range v1 {
		f := filter(bl)
		require.Equal(t, filterV1, f.version())
		for other := range 3 {
			m := store.NewMatcher(store.Filter{Text: fmt.Sprintf(" rare%c ", 'a'+other)})
			assert.Equal(t, seq == other, mayMatchText(m, f), "v1 block %d, word of %d", seq, other)
			m = store.NewMatcher(store.Filter{Attrs: []store.AttrMatch{{Key: "seq", Value: fmt.Sprint("s", other)}}})
			assert.Equal(t, seq == other, mayMatchText(m, f), "v1 block %d, attr of %d", seq, other)
		}
	}

	s, err := Open(ctx, path, Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	for seq := 3; seq < 5; seq++ {
		_, err := s.WriteBatches(ctx, v1Batches("orders", seq))
		require.NoError(t, err)
	}
	var schemaVersion int
	require.NoError(t, s.rdb.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&schemaVersion))
	assert.Equal(t, len(schema), schemaVersion, "migrated to the newest schema; from version 2 on, older binaries refuse a file that may hold filterV2 blobs")
	var versions []int
	rows, err := s.rdb.QueryContext(ctx, `SELECT bloom FROM blocks ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var f []byte
		require.NoError(t, rows.Scan(&f))
		versions = append(versions, filter(f).version())
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []int{filterV1, filterV1, filterV1, filterV2, filterV2}, versions)

	for seq := range 5 {
		text := fmt.Sprintf(" RARE%c ", 'A'+seq)
		p, err := s.Search(ctx, store.SearchQuery{Filter: store.Filter{Text: text}, Limit: 10})
		require.NoError(t, err)
		require.Len(t, p.Entries, 2, text) // record 42 of each of the 2 batches
		for _, e := range p.Entries {
			assert.Contains(t, e.GetRecord().GetBody(), fmt.Sprintf(" Rare%c ", 'A'+seq))
		}
		f := store.Filter{Attrs: []store.AttrMatch{{Key: "seq", Value: fmt.Sprint("s", seq)}, {Key: "user_id", Value: "3"}}}
		n, err := s.Count(ctx, f)
		require.NoError(t, err)
		assert.EqualValues(t, bruteCount(f), n, "seq %d", seq)
	}
	f := store.Filter{Text: "created for user 6"}
	n, err := s.Count(ctx, f)
	require.NoError(t, err)
	assert.EqualValues(t, bruteCount(f), n)
	p, err := s.Search(ctx, store.SearchQuery{Filter: store.Filter{Text: " rarez "}, Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, p.Entries)
}
