import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import winston from "winston";
import { SawmillTransport } from "../src/index.js";
import { TRUNCATED } from "../src/private/json.js";
import { cutUtf8, parseTimestamp } from "../src/private/mapping.js";
import { loadOtel, otelLoaded } from "../src/private/otel.js";
import { cases } from "./cases.js";
import { FakeSender } from "./fake-sender.js";
import { viewOfRecord } from "./views.js";

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  await loadOtel();
  assert.equal(otelLoaded(), true);
});

describe("mapping of winston info objects (decoded on the wire)", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const sender = new FakeSender();
      const transport = new SawmillTransport({ service: "mapping-test", flushIntervalMs: 10 }, sender);
      const warnings: Error[] = [];
      transport.on("warn", (e: Error) => warnings.push(e));
      const logger = c.logger(transport);
      c.run(logger, "case");
      assert.equal(await transport.flush(2000), true);
      const views = sender.records().map(viewOfRecord);
      assert.equal(views.length, c.count);
      c.check(views, "case");
      assert.deepEqual(warnings, []);
      assert.equal(transport.stats().droppedInvalid, 0);
      await transport.close(100);
    });
  }
});

test("options are validated at construction", () => {
  assert.throws(() => new SawmillTransport({} as never), /option service/);
  assert.throws(() => new SawmillTransport({ service: "a\nb" }), /option service/);
  assert.throws(() => new SawmillTransport({ service: "x", batchSize: 0 }), /batchSize/);
  assert.throws(() => new SawmillTransport({ service: "x", batchSize: 20_000 }), /batchSize/);
  assert.throws(() => new SawmillTransport({ service: "x", onFull: "block" as never }), /onFull/);
  assert.throws(() => new SawmillTransport({ service: "x", environment: "e".repeat(300) }), /environment/);
});

test("resource fields travel once per batch", async () => {
  const sender = new FakeSender();
  const t = new SawmillTransport(
    { service: "orders", instance: "orders-1", environment: "prod", version: "1.2.3", resourceAttributes: { region: "eu", pods: 3 }, flushIntervalMs: 5 },
    sender,
  );
  const logger = winston.createLogger({ transports: [t] });
  logger.info("one");
  await t.flush();
  const b = sender.requests[0]!;
  assert.equal(b.resource?.service, "orders");
  assert.equal(b.resource?.instance, "orders-1");
  assert.equal(b.resource?.environment, "prod");
  assert.equal(b.resource?.version, "1.2.3");
  assert.equal(Buffer.from(b.resource.attributesJson).toString(), '{"region":"eu","pods":3}');
  await t.close();
});

test("log() never throws, calls next at once, never emits 'error'; problems are warn events and onError calls", async () => {
  const sender = new FakeSender();
  sender.fallback = { code: 3, message: "rejected for the test" };
  const seen: string[] = [];
  const t = new SawmillTransport({ service: "x", flushIntervalMs: 5, onError: (e) => seen.push(`onError:${e.code}`) }, sender);
  t.on("warn", (e: { code: string }) => seen.push(`warn:${e.code}`));
  const hostile = new Proxy({}, { get: () => { throw new Error("get trap"); }, ownKeys: () => { throw new Error("keys trap"); } });
  let called = 0;
  t.log(hostile, () => called++);
  t.log({ level: "info", message: "fine" }, () => called++);
  assert.equal(called, 2, "next called synchronously");
  await t.flush(1000);
  assert.ok(seen.includes("onError:REJECTED") && seen.includes("warn:REJECTED"), seen.join());
  await t.close(100);
});

test("logger.end() waits for the acknowledgements before 'finish'", async () => {
  const sender = new FakeSender();
  sender.delayMs = 50;
  const t = new SawmillTransport({ service: "x", flushIntervalMs: 10_000 }, sender);
  const logger = winston.createLogger({ transports: [t] });
  for (let i = 0; i < 10; i++) logger.info(`m${i}`);
  const finished = new Promise<void>((resolve) => t.on("finish", () => resolve()));
  logger.end();
  await finished;
  assert.equal(sender.records().length, 10, "acked before finish");
  await t.close(100);
});

test("cutUtf8 cuts by UTF-8 bytes at a code point boundary, as long as the limit allows", () => {
  const max = 64 * 1024;
  const room = max - Buffer.byteLength(TRUNCATED); // bytes left for the text before the marker
  // (assert.ok, not equal: a failure must not print 64 KiB strings)
  const same = (got: string, want: string, what: string): void =>
    assert.ok(got === want, `${what}: got ${got.length} chars ending ${JSON.stringify(got.slice(-20))}, want ${want.length} ending ${JSON.stringify(want.slice(-20))}`);
  same(cutUtf8("a".repeat(max), max), "a".repeat(max), "exactly at the limit: kept");
  same(cutUtf8("a".repeat(70_000), max), "a".repeat(room) + TRUNCATED, "70,000 ASCII characters");
  for (const [ch, width] of [["é", 2], ["€", 3], ["😀", 4]] as const) {
    for (let shift = 0; shift < width; shift++) {
      // Put a multi-byte character across the cut point, shifted by 0..width-1 bytes.
      const lead = room - shift;
      const s = "a".repeat(lead) + ch.repeat(10) + "b".repeat(10_000);
      const got = cutUtf8(s, max);
      const fits = Math.floor(shift / width);
      same(got, "a".repeat(lead) + ch.repeat(fits) + TRUNCATED, `${ch} shifted by ${shift}`);
      assert.ok(Buffer.byteLength(got) <= max && Buffer.byteLength(got) > max - width);
      assert.equal(Buffer.from(got).toString(), got, "valid UTF-8, no split character");
    }
  }
  same(cutUtf8("€".repeat(21_845), max), "€".repeat(21_845), "65,535 bytes of 3-byte characters fit");
  const lone = "\ud800".repeat(30_000);
  assert.ok(Buffer.byteLength(cutUtf8(lone, max)) <= max, "a lone surrogate counts as the 3 bytes of U+FFFD");
});

test("parseTimestamp accepts unambiguous forms only", () => {
  const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;
  const cases: [unknown, bigint | undefined][] = [
    ["2026-11-02T01:02:03.456Z", ns(Date.UTC(2026, 10, 2, 1, 2, 3, 456))],
    ["2026-11-02t01:02:03z", ns(Date.UTC(2026, 10, 2, 1, 2, 3))],
    ["2026-11-02 01:02:03,5+01:30", ns(Date.UTC(2026, 10, 2, 1, 2, 3, 500) - 90 * 60_000)],
    ["2026-11-02T01:02:03-0700", ns(Date.UTC(2026, 10, 2, 8, 2, 3))],
    ["2026-11-02T01:02:03.123456789+00", ns(Date.UTC(2026, 10, 2, 1, 2, 3)) + 123_456_789n],
    ["2026-11-02 01:02:03", ns(new Date(2026, 10, 2, 1, 2, 3).getTime())],
    ["2026-11-02 01:02:03.250 +0100", ns(Date.UTC(2026, 10, 2, 0, 2, 3, 250))],
    ["Mon, 02 Nov 2026 01:02:03 GMT", ns(Date.UTC(2026, 10, 2, 1, 2, 3))],
    ["2 Nov 2026 01:02 +0100", ns(Date.UTC(2026, 10, 2, 0, 2))],
    [1_793_581_323_456, ns(1_793_581_323_456)],
    [new Date(1_793_581_323_456), ns(1_793_581_323_456)],
    // Never guessed:
    ["02/12/2026 05:06:07.123", undefined],
    ["12/02/2026", undefined],
    ["2026-11-02", undefined],
    ["1793581323456", undefined],
    ["2026-13-02T01:02:03Z", undefined],
    ["2026-02-30T01:02:03Z", undefined],
    ["2026-11-02T24:00:00Z", undefined],
    ["2026-11-02T01:02:03+25:00", undefined],
    ["Wed Dec 02 2026 05:00:00 GMT+0000 (Coordinated Universal Time)", undefined],
    ["tomorrow", undefined],
    [NaN, undefined],
    [new Date(NaN), undefined],
    [{}, undefined],
  ];
  for (const [v, want] of cases) assert.equal(parseTimestamp(v), want, String(v));
});

/** until waits, a turn of the event loop at a time, until cond() holds (at most 30 s). */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in 30 s");
    await new Promise((r) => setImmediate(r));
  }
}

test("close() delivers logs written while it flushes (a shutdown handler's own lines), then drops and counts later ones", async () => {
  const sender = new FakeSender();
  sender.delayMs = 300; // each answer: the window in which the test logs
  const t = new SawmillTransport({ service: "x", flushIntervalMs: 60_000 }, sender);
  const logger = winston.createLogger({ transports: [t] });
  for (let i = 0; i < 10; i++) logger.info(`before ${i}`);
  const closed = t.close(30_000);
  logger.info("shutting down"); // while the first push waits for its answer
  await until(() => sender.requests.length === 2);
  logger.info("last request done"); // while the second does
  assert.equal(await closed, true, "nothing lost");
  const bodies = sender.records().map((r) => r.body);
  assert.equal(bodies.length, 12, bodies.join());
  assert.deepEqual(bodies.slice(10), ["shutting down", "last request done"]);
  assert.equal(t.stats().droppedClosed, 0);
  t.log({ level: "info", message: "after close" }, () => {});
  assert.equal(t.stats().droppedClosed, 1, "after close() resolved: dropped and counted");
});

test("exitHook: on SIGTERM it drains, so what is logged while the flush waits is delivered too", async () => {
  const sender = new FakeSender();
  sender.delayMs = 300;
  // The test process's own listener: with one present the hook does not re-raise the signal.
  const keep = (): void => {};
  process.on("SIGTERM", keep);
  try {
    const t = new SawmillTransport({ service: "x", flushIntervalMs: 60_000, exitHook: true }, sender);
    const logger = winston.createLogger({ transports: [t] });
    for (let i = 0; i < 5; i++) logger.info(`before ${i}`);
    process.emit("SIGTERM", "SIGTERM");
    await until(() => sender.requests.length === 1);
    logger.info("request finished while flushing");
    await until(() => t.stats().acked === 6 || sender.requests.length > 2);
    assert.deepEqual(sender.records().map((r) => r.body), ["before 0", "before 1", "before 2", "before 3", "before 4", "request finished while flushing"]);
    await t.close(100);
  } finally {
    process.off("SIGTERM", keep);
  }
});
