import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import winston from "winston";
import { SawmillTransport } from "../src/index.js";
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
