import { test } from "node:test";
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { PushRequestSchema } from "../src/gen/sawmill/v1/ingest_service_pb.js";
import { RecordBuffer, encodePushRequest, encodeResource, newRecordFields, type RecordFields } from "../src/private/wire.js";

function rec(over: Partial<RecordFields>): RecordFields {
  return { ...newRecordFields(), ...over };
}

test("records round-trip through the generated schema", () => {
  const buf = new RecordBuffer(16); // tiny, to exercise growth
  const long = "é".repeat(40_000); // 80,000 bytes: a 3-byte varint
  const records: RecordFields[] = [
    rec({ timeUnixNano: 1_795_000_000_123_456_789n, observedTimeUnixNano: 1_795_000_000_223_456_789n, severityNumber: 9, severityText: "info", body: "hello", attributesJson: '{"a":1,"b":2.5}', logger: "api" }),
    rec({ severityNumber: 17, body: long, errorType: "TypeError", errorMessage: "boom", errorStack: "TypeError: boom\n    at x (y.js:1:1)" }),
    rec({ body: "x".repeat(200), traceId: "ab".repeat(16), spanId: "CD".repeat(8), attributesJson: `{"s":${JSON.stringify("ü🙂".repeat(3000))}}` }),
    rec({}), // an empty record is valid (all fields zero)
    rec({ body: "😀".repeat(21) }), // 42 code units: the short-string path, 84 bytes
  ];
  for (const r of records) buf.append(r);
  assert.equal(buf.count, records.length);
  const resource = encodeResource({ service: "orders", instance: "orders-1", environment: "prod", version: "1.2.3", attributesJson: '{"region":"eu"}' });
  const req = fromBinary(PushRequestSchema, encodePushRequest("0123456789abcdef0123456789abcdef", resource, buf.take()));
  assert.equal(buf.count, 0);
  const b = req.batch!;
  assert.equal(b.batchId, "0123456789abcdef0123456789abcdef");
  assert.equal(b.resource?.service, "orders");
  assert.equal(b.resource?.instance, "orders-1");
  assert.equal(b.resource?.environment, "prod");
  assert.equal(b.resource?.version, "1.2.3");
  assert.equal(Buffer.from(b.resource.attributesJson).toString(), '{"region":"eu"}');
  assert.equal(b.records.length, records.length);
  b.records.forEach((got, i) => {
    const want = records[i]!;
    assert.equal(got.timeUnixNano, want.timeUnixNano, `time ${i}`);
    assert.equal(got.observedTimeUnixNano, want.observedTimeUnixNano);
    assert.equal(got.severityNumber, want.severityNumber);
    assert.equal(got.severityText, want.severityText);
    assert.equal(got.body, want.body, `body ${i}`);
    assert.equal(Buffer.from(got.attributesJson).toString(), want.attributesJson);
    assert.equal(Buffer.from(got.traceId).toString("hex"), want.traceId.toLowerCase());
    assert.equal(Buffer.from(got.spanId).toString("hex"), want.spanId.toLowerCase());
    assert.equal(got.logger, want.logger);
    if (want.errorType !== "" || want.errorMessage !== "" || want.errorStack !== "") {
      assert.equal(got.error?.type, want.errorType);
      assert.equal(got.error?.message, want.errorMessage);
      assert.equal(got.error?.stack, want.errorStack);
    } else {
      assert.equal(got.error, undefined);
    }
  });
});

test("truncate rolls back the last append", () => {
  const buf = new RecordBuffer();
  buf.append(rec({ body: "keep" }));
  const len = buf.length;
  buf.append(rec({ body: "undo" }));
  buf.truncate(len, 1);
  const req = fromBinary(PushRequestSchema, encodePushRequest("id", new Uint8Array(), buf.take()));
  assert.deepEqual(req.batch!.records.map((r) => r.body), ["keep"]);
});

test("seal frames the records as a PushRequest and empties the buffer", () => {
  const buf = new RecordBuffer();
  buf.append(rec({ body: "a" }));
  buf.append(rec({ body: "b" }));
  const resource = encodeResource({ service: "svc" });
  const req = fromBinary(PushRequestSchema, buf.seal("batch-1", resource));
  assert.equal(req.batch?.batchId, "batch-1");
  assert.equal(req.batch?.resource?.service, "svc");
  assert.deepEqual(req.batch?.records.map((r) => r.body), ["a", "b"]);
  assert.equal(buf.count, 0);
  assert.equal(buf.length, 0);
  buf.append(rec({ body: "c" }));
  assert.deepEqual(fromBinary(PushRequestSchema, buf.seal("batch-2", resource)).batch?.records.map((r) => r.body), ["c"]);
});
