import { test } from "node:test";
import assert from "node:assert/strict";
import { Pipeline, type PipelineOptions, type ProblemReport } from "../src/private/pipeline.js";
import { encodeResource, newRecordFields, type RecordFields } from "../src/private/wire.js";
import { FakeSender, invalid, unavailable } from "./fake-sender.js";

function options(over: Partial<PipelineOptions> = {}): PipelineOptions {
  return {
    resource: encodeResource({ service: "svc" }),
    batchSize: 10,
    maxBatchBytes: 1024 * 1024,
    flushIntervalMs: 20,
    maxBufferBytes: 64 * 1024 * 1024,
    onFull: "drop-newest",
    maxInFlight: 2,
    maxRetries: Infinity,
    backoffInitialMs: 5,
    backoffMaxMs: 20,
    timeoutMs: 1000,
    reportIntervalMs: 0,
    ...over,
  };
}

function rec(i: number, body = `log ${i}`): RecordFields {
  return { ...newRecordFields(), severityNumber: 9, body, attributesJson: `{"i":${i}}` };
}

function bodies(s: FakeSender): string[] {
  return s.records().map((r) => r.body).sort();
}

test("batches by count and by interval; flush waits for the acks", async () => {
  const s = new FakeSender();
  s.delayMs = 5;
  const p = new Pipeline(options({ batchSize: 10 }), s, () => {});
  for (let i = 0; i < 25; i++) p.append(rec(i));
  // Two full batches go at once; the last 5 wait for the interval.
  await new Promise((r) => setTimeout(r, 1));
  assert.equal(s.requests.length, 2);
  assert.deepEqual(s.requests.map((b) => b.records.length), [10, 10]);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(s.requests.length, 3, "interval sealed the rest");
  assert.equal(await p.flush(1000), true);
  assert.equal(p.stats.acked, 25);
  assert.equal(p.pendingRecords, 0);
  assert.equal(p.bufferedBytes, 0);
  assert.equal(new Set(s.requests.map((b) => b.batchId)).size, 3, "distinct batch ids");
  for (const b of s.requests) assert.match(b.batchId, /^[0-9a-f]{32}$/);
});

test("batches by bytes", async () => {
  const s = new FakeSender();
  const p = new Pipeline(options({ batchSize: 10_000, maxBatchBytes: 64 * 1024 }), s, () => {});
  const body = "x".repeat(1000);
  for (let i = 0; i < 200; i++) p.append(rec(i, body));
  assert.equal(await p.flush(1000), true);
  assert.ok(s.requests.length >= 4, `${s.requests.length} batches`);
  for (const b of s.requests) assert.ok(b.records.length <= 64, `batch of ${b.records.length}`);
  assert.equal(s.records().length, 200);
});

test("retries reuse the batch id and lose nothing; flush resolves once acked", async () => {
  const s = new FakeSender();
  s.script.push(unavailable, unavailable, { code: 8, message: "slow down", retryAfterMs: 30 }, { code: 4, message: "deadline" });
  const reports: ProblemReport[] = [];
  const p = new Pipeline(options({ batchSize: 5, maxInFlight: 1 }), s, (r) => reports.push(r));
  for (let i = 0; i < 10; i++) p.append(rec(i));
  const started = Date.now();
  assert.equal(await p.flush(5000), true);
  assert.ok(Date.now() - started >= 30, "RetryInfo delay respected");
  assert.equal(s.requests.length, 6);
  assert.deepEqual(s.requests.slice(0, 5).map((b) => b.batchId), Array(5).fill(s.requests[0]!.batchId), "same id on every retry");
  assert.equal(s.stored.size, 2);
  assert.deepEqual(bodies(s), Array.from({ length: 10 }, (_, i) => `log ${i}`).sort());
  assert.equal(p.stats.retries, 4);
  assert.equal(p.stats.acked, 10);
  assert.ok(reports.some((r) => r.code === "UNAVAILABLE"));
});

test("INVALID_ARGUMENT drops the batch, counts it, reports it, does not retry", async () => {
  const s = new FakeSender();
  s.script.push(invalid);
  const reports: ProblemReport[] = [];
  const p = new Pipeline(options({ batchSize: 3, maxInFlight: 1 }), s, (r) => reports.push(r));
  for (let i = 0; i < 6; i++) p.append(rec(i));
  assert.equal(await p.flush(1000), true);
  assert.equal(s.requests.length, 2, "no retry of the rejected batch");
  assert.equal(p.stats.droppedRejected, 3);
  assert.equal(p.stats.acked, 3);
  assert.equal(reports.length, 1);
  assert.equal(reports[0]!.code, "REJECTED");
  assert.match(reports[0]!.message, /not valid UTF-8/);
});

test("maxRetries bounds the attempts", async () => {
  const s = new FakeSender();
  s.fallback = unavailable;
  const p = new Pipeline(options({ batchSize: 2, maxRetries: 2, maxInFlight: 1 }), s, () => {});
  p.append(rec(1));
  p.append(rec(2));
  assert.equal(await p.flush(2000), true, "settled (dropped) within the timeout");
  assert.equal(s.requests.length, 3);
  assert.equal(p.stats.droppedRetries, 2);
});

test("full buffer: drop-newest keeps the oldest, bounded memory, counted", async () => {
  const s = new FakeSender();
  s.fallback = "hang"; // server never answers
  const body = "y".repeat(1000);
  const p = new Pipeline(options({ batchSize: 10, maxBufferBytes: 64 * 1024, maxBatchBytes: 64 * 1024 }), s, () => {});
  let accepted = 0;
  for (let i = 0; i < 1000; i++) if (p.append(rec(i, body))) accepted++;
  assert.ok(p.bufferedBytes <= 64 * 1024, `${p.bufferedBytes} bytes buffered`);
  assert.equal(p.stats.droppedFull, 1000 - accepted);
  assert.ok(accepted > 40 && accepted < 70, `${accepted} accepted`);
  assert.equal(await p.flush(30), false, "flush times out while the server hangs");
  assert.equal(await p.close(0), false);
  assert.equal(p.stats.droppedClosed, accepted);
  assert.equal(p.append(rec(1)), false, "closed pipelines accept nothing");
});

test("full buffer: drop-oldest drops queued batches, never in-flight ones, keeps the newest", async () => {
  const s = new FakeSender();
  s.fallback = "hang";
  const body = "z".repeat(1000);
  const p = new Pipeline(options({ batchSize: 10, maxInFlight: 1, onFull: "drop-oldest", maxBufferBytes: 64 * 1024, maxBatchBytes: 64 * 1024 }), s, () => {});
  for (let i = 0; i < 1000; i++) assert.equal(p.append(rec(i, body)), true);
  assert.ok(p.bufferedBytes <= 64 * 1024);
  assert.equal(p.stats.droppedFull % 10, 0, "whole batches dropped");
  assert.equal(s.requests.length, 1, "one batch in flight");
  assert.equal(s.requests[0]!.records[0]!.body, body, "the in-flight batch stays");
  await p.close(0);
});

test("flush with a dead server settles at its timeout; close releases the sender", async () => {
  const s = new FakeSender();
  s.fallback = unavailable;
  const p = new Pipeline(options({ backoffInitialMs: 50, backoffMaxMs: 50 }), s, () => {});
  for (let i = 0; i < 5; i++) p.append(rec(i));
  const started = Date.now();
  assert.equal(await p.close(200), false);
  const took = Date.now() - started;
  assert.ok(took >= 190 && took < 1000, `close took ${took} ms`);
  assert.equal(s.closed, true);
  // A retry in flight when the timeout fired is counted when its push ends:
  // the fake answers on a 0 ms timer, due before this 20 ms one.
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(p.stats.droppedClosed, 5);
});

test("a throwing sender or reporter never escapes", async () => {
  const p = new Pipeline(
    options({ maxRetries: 0 }),
    { push: () => { throw new Error("sync boom"); }, close: () => { throw new Error("close boom"); } },
    () => { throw new Error("reporter boom"); },
  );
  p.append(rec(1));
  assert.equal(await p.flush(500), true);
  assert.equal(p.stats.droppedRejected, 1);
  assert.equal(await p.close(10), true);
});

test("backoff grows exponentially with jitter and is capped", () => {
  const p = new Pipeline(options({ backoffInitialMs: 100, backoffMaxMs: 5000 }), new FakeSender(), () => {});
  for (let n = 1; n <= 10; n++) {
    const base = Math.min(5000, 100 * 2 ** (n - 1));
    for (let k = 0; k < 20; k++) {
      const d = p.backoff(n);
      assert.ok(d >= base * 0.75 - 1 && d <= base * 1.25 + 1, `n=${n} d=${d}`);
    }
  }
});

test("dropIfFull drops before mapping only when nothing could be kept", async () => {
  const s = new FakeSender();
  s.fallback = "hang";
  const p = new Pipeline(options({ maxBufferBytes: 64 * 1024, maxBatchBytes: 64 * 1024, batchSize: 10 }), s, () => {});
  assert.equal(p.dropIfFull(), false);
  const body = "q".repeat(1000);
  while (p.append(rec(0, body))) {
    // fill up
  }
  const dropped = p.stats.droppedFull;
  // Smaller records may still fit; once even the smallest cannot, dropIfFull says so.
  while (p.append(rec(0, ""))) {
    // fill the rest
  }
  assert.equal(p.dropIfFull(), true);
  assert.ok(p.stats.droppedFull > dropped);
  await p.close(0);
  assert.equal(p.dropIfFull(), true, "closed");
  assert.ok(p.stats.droppedClosed > 0);
});
