package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

func testBatches() []*sawmillv1.LogBatch {
	var bs []*sawmillv1.LogBatch
	for i := range 3 {
		b := &sawmillv1.LogBatch{BatchId: string(rune('a' + i)), Resource: &sawmillv1.Resource{Service: "orders"}}
		for j := range 50 {
			b.Records = append(b.Records, &sawmillv1.LogRecord{
				TimeUnixNano:   uint64(1_700_000_000_000_000_000 + i*1000 + j),
				SeverityNumber: sawmillv1.SeverityNumber_SEVERITY_NUMBER_WARN,
				Body:           "order 482913 created for user 77310 in 12 ms",
				AttributesJson: []byte(`{"http_status":201,"duration_ms":12.5}`),
			})
		}
		bs = append(bs, b)
	}
	return bs
}

func TestCodecRoundTrip(t *testing.T) {
	c := &codec{}
	bs := testBatches()
	blk, _, err := c.build("orders", bs, nil)
	require.NoError(t, err)
	assert.Equal(t, s2Magic, blk.data[:len(s2Magic)], "new blocks are S2")
	assert.EqualValues(t, 150, blk.records)
	got, err := c.decode(blk.data)
	require.NoError(t, err)
	require.Len(t, got, len(bs))
	for i := range bs {
		assert.True(t, proto.Equal(bs[i], got[i]), "batch %d", i)
	}
}

func TestCodecRejectsCorruptBlocks(t *testing.T) {
	c := &codec{}
	blk, _, err := c.build("orders", testBatches(), nil)
	require.NoError(t, err)
	for name, data := range map[string][]byte{
		"truncated s2":  blk.data[:len(blk.data)/2],
		"only magic":    s2Magic,
		"neither codec": []byte("not a block"),
	} {
		_, err := c.decode(data)
		assert.Error(t, err, name)
	}
}

func TestFieldsBloomPrunesByTraceAndResource(t *testing.T) {
	bs := testBatches()
	trace := []byte("0123456789abcdef")
	bs[1].Records[7].TraceId = trace
	bs[1].Records[7].SpanId = []byte("span0001")
	bs[1].Records[7].Logger = "http"
	bs[1].Records[7].Error = &sawmillv1.ErrorInfo{Type: "*fs.PathError"}
	bs[2].Resource.Instance, bs[2].Resource.Environment, bs[2].Resource.Version = "orders-2", "prod", "1.4.2"
	blk, _, err := (&codec{}).build("orders", bs, nil)
	require.NoError(t, err)
	for name, f := range map[string]store.Filter{
		"trace": {TraceID: trace}, "span": {SpanID: []byte("span0001")}, "logger": {Logger: "http"},
		"error type": {ErrorType: "*fs.PathError"}, "instance": {Instance: "orders-2"},
		"environment": {Environment: "prod"}, "version": {Version: "1.4.2"}, "none": {},
	} {
		assert.True(t, blk.fields.mayHaveFields(f), "%s: present value", name)
	}
	// 2% false positives: of 200 absent trace ids, far fewer than half pass.
	passed := 0
	for i := range 200 {
		if blk.fields.mayHaveFields(store.Filter{TraceID: []byte(fmt.Sprintf("absent-trace%04d", i))}) {
			passed++
		}
	}
	assert.Less(t, passed, 40, "absent trace ids the bloom lets through")
	for name, f := range map[string]store.Filter{
		"logger": {Logger: "db"}, "instance": {Instance: "orders-9"}, "environment": {Environment: "staging"},
		"version": {Version: "1.4.3"}, "error type": {ErrorType: "TypeError"},
	} {
		assert.False(t, blk.fields.mayHaveFields(f), "%s: absent value", name)
	}
	assert.True(t, bloom(nil).mayHaveFields(store.Filter{TraceID: trace}), "a block without a fields bloom may hold anything")
}

// Blocks written before schema 3 have no fields bloom (NULL): the field
// filters still find their records, by scanning.
func TestFieldFiltersMatchBlocksWithoutFieldsBloom(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"), Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	bs := testBatches()
	trace := []byte("0123456789abcdef")
	bs[0].Records[3].TraceId = trace
	bs[0].Resource.Version = "1.4.2"
	_, err = s.WriteBatches(ctx, bs)
	require.NoError(t, err)
	_, err = s.wdb.ExecContext(ctx, `DELETE FROM block_fields`)
	require.NoError(t, err)
	n, err := s.Count(ctx, store.Filter{TraceID: trace})
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	n, err = s.Count(ctx, store.Filter{Version: "1.4.2"})
	require.NoError(t, err)
	assert.EqualValues(t, 50, n)
}
