package sqlite

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

func scanBatches() []*sawmillv1.LogBatch {
	var bs []*sawmillv1.LogBatch
	for i := range 3 {
		b := &sawmillv1.LogBatch{BatchId: fmt.Sprint("batch-", i), Resource: &sawmillv1.Resource{Service: "orders", Instance: fmt.Sprint("orders-", i)}}
		for j := range 40 {
			b.Records = append(b.Records, &sawmillv1.LogRecord{
				TimeUnixNano:   uint64(1_700_000_000_000_000_000 + i*1000 + j),
				SeverityNumber: sawmillv1.SeverityNumber(1 + 4*(j%6)),
				SeverityText:   "x",
				Body:           fmt.Sprintf("order %d created 주문 %d", j, i),
				AttributesJson: fmt.Appendf(nil, `{"n":%d,"even":%t,"nested":{"k":"v%d"}}`, j, j%2 == 0, j%3),
				TraceId:        []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(j % 4)},
				SpanId:         []byte{1, 2, 3, 4, 5, 6, 7, byte(j)},
				Logger:         fmt.Sprint("l", j%2),
				Source:         &sawmillv1.SourceLocation{File: "f.go", Line: int32(j)},
			})
			if j%5 == 0 {
				last := b.Records[len(b.Records)-1]
				last.Error = &sawmillv1.ErrorInfo{Type: fmt.Sprint("E", j%3), Message: "m"}
				last.TraceId = nil
			}
		}
		bs = append(bs, b)
	}
	return bs
}

// scanRaw must select and decode exactly what decoding the whole block and
// matching every record selects.
func TestScanRawMatchesDecode(t *testing.T) {
	c := &codec{}
	bs := scanBatches()
	blk, _, err := c.build("orders", bs, nil)
	require.NoError(t, err)
	raw, err := c.decompress(blk.data)
	require.NoError(t, err)
	for _, f := range []store.Filter{
		{},
		{Text: "ORDER 7 "},
		{Text: "주문 2"},
		{Attrs: []store.AttrMatch{{Key: "n", Value: "7"}}},
		{Attrs: []store.AttrMatch{{Key: "even", Value: "true"}, {Key: "nested.k", Value: "v1"}}},
		{MinSeverity: 13},
		{From: 1_700_000_000_000_001_005, To: 1_700_000_000_000_002_010},
		{Text: "no such text"},
		{TraceID: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 2}},
		{TraceID: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 9}},
		{SpanID: []byte{1, 2, 3, 4, 5, 6, 7, 11}},
		{Logger: "l1"},
		{ErrorType: "E1"},
		{Instance: "orders-2"},
		{Instance: "orders-1", Logger: "l0", ErrorType: "E0"},
	} {
		m := store.NewMatcher(f)
		type got struct {
			id  string
			rec *sawmillv1.LogRecord
			res *sawmillv1.Resource
		}
		var want, have []got
		for _, b := range bs {
			for i, r := range b.GetRecords() {
				if m.Match(b.GetResource(), r) {
					want = append(want, got{store.Key{BatchID: b.GetBatchId(), Index: i}.ID(), r, b.GetResource()})
				}
			}
		}
		err := scanRaw(raw, m, func(h *scanHit) error {
			r, err := h.Record()
			require.NoError(t, err)
			res, err := h.Resource()
			require.NoError(t, err)
			assert.Equal(t, int64(r.GetTimeUnixNano()), h.Time)
			assert.Equal(t, int32(r.GetSeverityNumber()), h.Sev)
			have = append(have, got{store.Key{BatchID: h.BatchID, Index: h.Index}.ID(), r, res})
			return nil
		})
		require.NoError(t, err, "%+v", f)
		require.Len(t, have, len(want), "%+v", f)
		for i := range want {
			assert.Equal(t, want[i].id, have[i].id)
			assert.True(t, proto.Equal(want[i].rec, have[i].rec), "%+v: record %s", f, want[i].id)
			assert.True(t, proto.Equal(want[i].res, have[i].res), "%+v: resource %s", f, want[i].id)
		}
	}
}

func TestScanRawRejectsCorruptFrames(t *testing.T) {
	c := &codec{}
	blk, _, err := c.build("orders", scanBatches(), nil)
	require.NoError(t, err)
	raw, err := c.decompress(blk.data)
	require.NoError(t, err)
	m := store.NewMatcher(store.Filter{})
	noop := func(*scanHit) error { return nil }
	for _, cut := range []int{1, 2, 3, 7, 100, len(raw) / 2, len(raw) - 1} {
		assert.Error(t, scanRaw(raw[:cut], m, noop), "cut at %d", cut)
	}
	bad := append([]byte{5}, 0xff, 0xff, 0xff, 0xff, 0xff) // frame of 5 bytes holding a broken tag
	assert.Error(t, scanRaw(bad, m, noop))
}
