package validate

// BenchmarkDecodeAttributes measures what the choice of attribute encoding
// costs ingest: decoding a marshaled 1000-record batch of the standard
// workload (7 attributes, ~60-byte message) and validating it, for three
// encodings of the attributes:
//
//   - json_bytes: the v1 contract, one JSON object per record in
//     LogRecord.attributes_json; proto.Unmarshal + Batch (which scans every
//     document with jsonattr.Validate).
//   - typed_kv: typed values with a oneof per value (the shape of OTel's
//     KeyValue/AnyValue), carried as one google.protobuf.Struct per record
//     (generated code, structpb) next to a LogBatch without attributes;
//     both are decoded, the batch validated with Batch and every Struct
//     checked against the same key and depth limits.
//   - string_map: map<string,string> per record, the exact wire bytes built
//     with protowire and decoded into a dynamicpb message described with
//     protodesc, plus the LogBatch without attributes; limits checked as
//     for typed_kv. dynamicpb decodes through protobuf-go's reflective path,
//     which is slower than generated code: typed_kv_dynamicpb decodes the
//     typed_kv bytes the same way to show that overhead, and
//     string_map_generated decodes the same map entries with generated code
//     (google.rpc.ErrorInfo's map<string,string> metadata, one
//     proto.Unmarshal per record).
//
// Each reports ns/record, allocs/record and wire bytes/record.

import (
	"encoding/json"
	"runtime"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/jsonattr"
)

const benchRecords = 1000

func BenchmarkDecodeAttributes(b *testing.B) {
	withJSON := workloadBatch(benchRecords, testNow)
	jsonBytes := mustMarshal(b, withJSON)

	bare := workloadBatch(benchRecords, testNow)
	for _, r := range bare.Records {
		r.AttributesJson = nil
	}
	bareBytes := mustMarshal(b, bare)

	structs := &structpb.ListValue{Values: make([]*structpb.Value, benchRecords)}
	for i := range structs.Values {
		structs.Values[i] = structpb.NewStructValue(workloadStruct(i))
	}
	structBytes := mustMarshal(b, structs)

	mapDesc := stringMapListDescriptor(b)
	mapBytes := stringMapWire()

	b.Run("json_bytes", func(b *testing.B) {
		perRecord(b, len(jsonBytes), func() {
			var batch sawmillv1.LogBatch
			if err := proto.Unmarshal(jsonBytes, &batch); err != nil {
				b.Fatal(err)
			}
			if vs := Batch(&batch, len(jsonBytes), testNow, DefaultLimits); vs != nil {
				b.Fatal(vs)
			}
		})
	})
	b.Run("typed_kv", func(b *testing.B) {
		perRecord(b, len(bareBytes)+len(structBytes), func() {
			var batch sawmillv1.LogBatch
			if err := proto.Unmarshal(bareBytes, &batch); err != nil {
				b.Fatal(err)
			}
			var attrs structpb.ListValue
			if err := proto.Unmarshal(structBytes, &attrs); err != nil {
				b.Fatal(err)
			}
			if vs := Batch(&batch, len(bareBytes)+len(structBytes), testNow, DefaultLimits); vs != nil {
				b.Fatal(vs)
			}
			if len(attrs.Values) != len(batch.Records) {
				b.Fatal("attribute count mismatch")
			}
			for _, v := range attrs.Values {
				s := v.GetStructValue()
				if s == nil || len(s.Fields) > DefaultLimits.MaxAttrs.MaxKeys || structDepth(s, 1) > DefaultLimits.MaxAttrs.MaxDepth {
					b.Fatal("attributes out of limits")
				}
			}
		})
	})
	b.Run("string_map", func(b *testing.B) {
		recordsField := mapDesc.Fields().ByNumber(1)
		attrsField := recordsField.Message().Fields().ByNumber(1)
		perRecord(b, len(bareBytes)+len(mapBytes), func() {
			var batch sawmillv1.LogBatch
			if err := proto.Unmarshal(bareBytes, &batch); err != nil {
				b.Fatal(err)
			}
			attrs := dynamicpb.NewMessage(mapDesc)
			if err := proto.Unmarshal(mapBytes, attrs); err != nil {
				b.Fatal(err)
			}
			if vs := Batch(&batch, len(bareBytes)+len(mapBytes), testNow, DefaultLimits); vs != nil {
				b.Fatal(vs)
			}
			list := attrs.Get(recordsField).List()
			if list.Len() != len(batch.Records) {
				b.Fatal("attribute count mismatch")
			}
			for i := range list.Len() {
				if list.Get(i).Message().Get(attrsField).Map().Len() > DefaultLimits.MaxAttrs.MaxKeys {
					b.Fatal("attributes out of limits")
				}
			}
		})
	})
	b.Run("string_map_generated", func(b *testing.B) {
		recs := stringMapRecordsWire(3)
		wire := 0
		for _, r := range recs {
			wire += len(r)
		}
		perRecord(b, len(bareBytes)+wire, func() {
			var batch sawmillv1.LogBatch
			if err := proto.Unmarshal(bareBytes, &batch); err != nil {
				b.Fatal(err)
			}
			attrs := make([]*errdetails.ErrorInfo, len(recs))
			for i, r := range recs {
				attrs[i] = new(errdetails.ErrorInfo)
				if err := proto.Unmarshal(r, attrs[i]); err != nil {
					b.Fatal(err)
				}
			}
			if vs := Batch(&batch, len(bareBytes)+wire, testNow, DefaultLimits); vs != nil {
				b.Fatal(vs)
			}
			for _, a := range attrs {
				if len(a.Metadata) > DefaultLimits.MaxAttrs.MaxKeys {
					b.Fatal("attributes out of limits")
				}
			}
		})
	})
	b.Run("typed_kv_dynamicpb", func(b *testing.B) {
		listDesc := (&structpb.ListValue{}).ProtoReflect().Descriptor()
		perRecord(b, len(bareBytes)+len(structBytes), func() {
			var batch sawmillv1.LogBatch
			if err := proto.Unmarshal(bareBytes, &batch); err != nil {
				b.Fatal(err)
			}
			attrs := dynamicpb.NewMessage(listDesc)
			if err := proto.Unmarshal(structBytes, attrs); err != nil {
				b.Fatal(err)
			}
			if vs := Batch(&batch, len(bareBytes)+len(structBytes), testNow, DefaultLimits); vs != nil {
				b.Fatal(vs)
			}
		})
	})
}

// perRecord runs op (one 1000-record batch) b.N times and reports per-record
// time, allocations and wire size.
func perRecord(b *testing.B, wireBytes int, op func()) {
	b.ReportAllocs()
	b.SetBytes(int64(wireBytes))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		op()
	}
	runtime.ReadMemStats(&after)
	records := float64(b.N * benchRecords)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/records, "allocs/record")
	b.ReportMetric(float64(wireBytes)/benchRecords, "wire-bytes/record")
}

func mustMarshal(b *testing.B, m proto.Message) []byte {
	data, err := proto.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// workloadStruct is workloadAttrs(i) as typed values.
func workloadStruct(i int) *structpb.Struct {
	var m map[string]any
	if err := json.Unmarshal(workloadAttrs(i), &m); err != nil {
		panic(err)
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
}

func structDepth(s *structpb.Struct, depth int) int {
	d := depth
	for _, v := range s.Fields {
		d = max(d, valueDepth(v, depth))
	}
	return d
}

func valueDepth(v *structpb.Value, depth int) int {
	switch k := v.Kind.(type) {
	case *structpb.Value_StructValue:
		return structDepth(k.StructValue, depth+1)
	case *structpb.Value_ListValue:
		d := depth + 1
		for _, e := range k.ListValue.Values {
			d = max(d, valueDepth(e, depth+1))
		}
		return d
	}
	return depth
}

// stringMapListDescriptor describes
//
//	message StringMapAttrs { map<string, string> attributes = 1; }
//	message StringMapList { repeated StringMapAttrs records = 1; }
//
// and returns StringMapList.
func stringMapListDescriptor(b *testing.B) protoreflect.MessageDescriptor {
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	msg := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("sawmillbench/string_map.proto"),
		Package: proto.String("sawmillbench"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{
				Name: proto.String("StringMapAttrs"),
				Field: []*descriptorpb.FieldDescriptorProto{{
					Name: proto.String("attributes"), JsonName: proto.String("attributes"), Number: proto.Int32(1),
					Label: rep, Type: msg, TypeName: proto.String(".sawmillbench.StringMapAttrs.AttributesEntry"),
				}},
				NestedType: []*descriptorpb.DescriptorProto{{
					Name: proto.String("AttributesEntry"),
					Field: []*descriptorpb.FieldDescriptorProto{
						{Name: proto.String("key"), JsonName: proto.String("key"), Number: proto.Int32(1), Label: opt, Type: str},
						{Name: proto.String("value"), JsonName: proto.String("value"), Number: proto.Int32(2), Label: opt, Type: str},
					},
					Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
				}},
			},
			{
				Name: proto.String("StringMapList"),
				Field: []*descriptorpb.FieldDescriptorProto{{
					Name: proto.String("records"), JsonName: proto.String("records"), Number: proto.Int32(1),
					Label: rep, Type: msg, TypeName: proto.String(".sawmillbench.StringMapAttrs"),
				}},
			},
		},
	}
	file, err := protodesc.NewFile(fd, nil)
	if err != nil {
		b.Fatal(err)
	}
	return file.Messages().ByName("StringMapList")
}

// stringMapWire encodes the standard workload's attributes as a
// StringMapList: every value as its JSON text, strings unquoted.
func stringMapWire() []byte {
	var list []byte
	for _, rec := range stringMapRecordsWire(1) {
		list = protowire.AppendTag(list, 1, protowire.BytesType)
		list = protowire.AppendBytes(list, rec)
	}
	return list
}

// stringMapRecordsWire encodes the attributes of each record as a message
// holding them in the map<string,string> field number field.
func stringMapRecordsWire(field protowire.Number) [][]byte {
	recs := make([][]byte, benchRecords)
	for i := range recs {
		var rec []byte
		for _, kv := range workloadPairs(i) {
			var entry []byte
			entry = protowire.AppendTag(entry, 1, protowire.BytesType)
			entry = protowire.AppendString(entry, kv[0])
			entry = protowire.AppendTag(entry, 2, protowire.BytesType)
			entry = protowire.AppendString(entry, kv[1])
			rec = protowire.AppendTag(rec, field, protowire.BytesType)
			rec = protowire.AppendBytes(rec, entry)
		}
		recs[i] = rec
	}
	return recs
}

// workloadPairs is workloadAttrs(i) as key/value text pairs, in order.
func workloadPairs(i int) [][2]string {
	var kvs [][2]string
	jsonattr.Each(workloadAttrs(i), func(k, v string) bool {
		kvs = append(kvs, [2]string{k, v})
		return true
	})
	return kvs
}
