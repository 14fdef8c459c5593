package sqlite

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// BenchmarkBuildBlock builds one block of 8,192 records of each message
// shape (marshal, S2, filter): the store's ingest CPU per record.
func BenchmarkBuildBlock(b *testing.B) {
	for _, sh := range fpShapes {
		if sh.name == "random4k" {
			continue // 32 MiB a block; random1k shows the trend
		}
		b.Run(sh.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(9, 9))
			var bs []*sawmillv1.LogBatch
			var body []byte
			for i := 0; i < maxBlockRecords; i += 1024 {
				bt := &sawmillv1.LogBatch{BatchId: fmt.Sprint(i), Resource: &sawmillv1.Resource{Service: "svc"}}
				for range 1024 {
					body = sh.body(rng, body[:0])
					bt.Records = append(bt.Records, &sawmillv1.LogRecord{TimeUnixNano: uint64(i), Body: string(body),
						AttributesJson: fmt.Appendf(nil, `{"trace_id":"%016x%016x","http_status":201,"user_id":%d}`, rng.Uint64(), rng.Uint64(), rng.IntN(1e5))})
				}
				bs = append(bs, bt)
			}
			c := &codec{}
			var scratch []byte
			b.ResetTimer()
			for range b.N {
				var err error
				_, scratch, err = c.build("svc", bs, scratch)
				require.NoError(b, err)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*maxBlockRecords), "ns/record")
		})
	}
}
