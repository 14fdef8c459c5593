package sqlite

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
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
