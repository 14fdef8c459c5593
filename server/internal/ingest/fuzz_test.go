package ingest

import (
	"errors"
	"testing"

	"google.golang.org/grpc/mem"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// FuzzScanRequest checks scanRequest against proto.Unmarshal: whenever a
// request decodes, the scan succeeds and counts exactly the records the
// decoded batch holds, and finds its batch id; a scan fails only on bytes
// that do not decode.
func FuzzScanRequest(f *testing.F) {
	full := batch("b1", 2)
	full.Records[0].Source = &sawmillv1.SourceLocation{File: "f.go", Line: 3}
	full.Records[1].Error = &sawmillv1.ErrorInfo{Message: "boom"}
	for _, m := range []proto.Message{
		&sawmillv1.PushRequest{Batch: full},
		&sawmillv1.PushRequest{},
		&sawmillv1.PushStreamRequest{Batch: batch("b2", 1)},
	} {
		data, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	twice, _ := proto.Marshal(&sawmillv1.PushRequest{Batch: batch("b3", 1)})
	f.Add(append(twice, twice...))                                                             // the batch field repeated: merged
	f.Add(emptyRecords("e", 3))                                                                // empty records
	f.Add([]byte{byte(protowire.EncodeTag(1, protowire.VarintType)), 7, 3<<3 | 5, 1, 2, 3, 4}) // field 1 as a varint, an unknown fixed32
	f.Add(protowire.AppendTag(nil, 1, protowire.StartGroupType))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, scanErr := scanRequest(data)
		var req sawmillv1.PushRequest
		decErr := proto.Unmarshal(data, &req)
		if decErr != nil {
			return // the scan may or may not notice: it does not look into records
		}
		if scanErr != nil {
			t.Fatalf("scan fails (%v) on a request that decodes", scanErr)
		}
		if n := len(req.GetBatch().GetRecords()); w.records != n {
			t.Fatalf("scan counts %d records, decoding gives %d", w.records, n)
		}
		id := req.GetBatch().GetBatchId()
		if len(id) > 64 {
			id = ""
		}
		if w.id != id {
			t.Fatalf("scan finds batch id %q, decoding gives %q", w.id, req.GetBatch().GetBatchId())
		}
		if req.Batch != nil && w.size < proto.Size(req.Batch) && len(req.Batch.ProtoReflect().GetUnknown()) == 0 {
			t.Fatalf("scan sizes the batch at %d bytes, decoded it is %d", w.size, proto.Size(req.Batch))
		}
	})
}

// FuzzScanBuffers checks that scanBuffers, reading the received buffers in
// place, agrees with scanRequest on the same bytes in one piece, however
// they are cut into buffers (every chunk bytes here).
func FuzzScanBuffers(f *testing.F) {
	full, _ := proto.Marshal(&sawmillv1.PushRequest{Batch: batch("b1", 3)})
	f.Add(full, uint8(1))
	f.Add(full, uint8(7))
	f.Add(emptyRecords("e", 5), uint8(3))
	f.Add([]byte{1<<3 | 2, 3, 3<<3 | 2, 5, 0}, uint8(2)) // a record longer than its batch
	f.Add([]byte{2<<3 | 5, 1, 2, 3, 4, 1<<3 | 2, 0}, uint8(4))
	f.Add(append(protowire.AppendTag(nil, 9, protowire.StartGroupType), protowire.AppendTag(nil, 9, protowire.EndGroupType)...), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		size := int(chunk%32) + 1
		var bufs mem.BufferSlice
		for rest := data; len(rest) > 0; {
			k := min(size, len(rest))
			bufs = append(bufs, mem.SliceBuffer(rest[:k]))
			rest = rest[k:]
		}
		got, gotErr := scanBuffers(bufs)
		if errors.Is(gotErr, errGroup) {
			return
		}
		want, wantErr := scanRequest(data)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("scanBuffers error %v, scanRequest error %v", gotErr, wantErr)
		}
		if gotErr == nil && got != want {
			t.Fatalf("scanBuffers %+v, scanRequest %+v", got, want)
		}
	})
}
