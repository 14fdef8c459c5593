// Encoding cost per record: the generated schema (create + toBinary of a
// 1000-record PushRequest) against the transport's hand-written RecordBuffer
// (append per record + framing), on the standard workload. In-process,
// bounded: `--records` records per method, best of 5 rounds.
//
//   node build/bench/encode.js [--records 100000]
import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { PushRequestSchema } from "../src/gen/sawmill/v1/ingest_service_pb.js";
import { LogBatchSchema, LogRecordSchema, ResourceSchema } from "../src/gen/sawmill/v1/log_pb.js";
import { JsonWriter } from "../src/private/json.js";
import { RecordBuffer, encodePushRequest, encodeResource, newRecordFields, type RecordFields } from "../src/private/wire.js";
import { makeRecords } from "./workload.js";

const i = process.argv.indexOf("--records");
const n = i > 0 ? Number(process.argv[i + 1]) : 100_000;
const w = new JsonWriter();
const now = BigInt(Date.now()) * 1_000_000n;
const recs: RecordFields[] = makeRecords(n, 5).map((r, k) => {
  w.begin();
  for (const [key, v] of Object.entries(r.meta)) if (key !== "trace_id" && key !== "span_id") w.field(key, v);
  return { ...newRecordFields(), timeUnixNano: now + BigInt(k), observedTimeUnixNano: now + BigInt(k), severityNumber: 9, severityText: r.level, body: r.message, attributesJson: w.end(), traceId: String(r.meta.trace_id), spanId: String(r.meta.span_id) };
});

function schemaEncode(): number {
  let bytes = 0;
  const resource = create(ResourceSchema, { service: "bench" });
  for (let b = 0; b < n; b += 1000) {
    const records = [];
    for (let k = b; k < Math.min(n, b + 1000); k++) {
      const r = recs[k]!;
      records.push(create(LogRecordSchema, { timeUnixNano: r.timeUnixNano, observedTimeUnixNano: r.observedTimeUnixNano, severityNumber: r.severityNumber, severityText: r.severityText, body: r.body, attributesJson: Buffer.from(r.attributesJson), traceId: Buffer.from(r.traceId, "hex"), spanId: Buffer.from(r.spanId, "hex") }));
    }
    bytes += toBinary(PushRequestSchema, create(PushRequestSchema, { batch: create(LogBatchSchema, { batchId: "x".repeat(32), resource, records }) })).length;
  }
  return bytes;
}

function handEncode(): number {
  let bytes = 0;
  const resource = encodeResource({ service: "bench" });
  const buf = new RecordBuffer();
  for (let b = 0; b < n; b += 1000) {
    for (let k = b; k < Math.min(n, b + 1000); k++) buf.append(recs[k]!);
    bytes += buf.seal("x".repeat(32), resource).length;
  }
  return bytes;
}

// Same bytes out of both (the unit tests check field by field; here the sizes).
const a = schemaEncode();
const b = handEncode();
if (a !== b) throw new Error(`encodings differ in size: ${a} vs ${b}`);
const sample = new RecordBuffer();
sample.append(recs[0]!);
fromBinary(PushRequestSchema, encodePushRequest("id", encodeResource({ service: "bench" }), sample.take()));

for (const [name, fn] of [["create + toBinary (generated schema)", schemaEncode], ["RecordBuffer (hand-written)", handEncode]] as const) {
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  console.log(`${name}: ${(best / 1000).toFixed(2)} µs/record (${n} records, ${(a / n).toFixed(0)} bytes/record, best of 5)`);
}
