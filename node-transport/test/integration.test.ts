// Integration tests against the real sawmill binary (built from ../server,
// or $SAWMILL_BIN), started on loopback in embedded mode with a temp data dir.
// Skipped, with the reason, only when no binary can be built.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as tick } from "node:timers/promises";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import winston from "winston";
import { SawmillTransport, type SawmillError } from "../src/index.js";
import { loadOtel } from "../src/private/otel.js";
import { GrpcSender } from "../src/private/grpc.js";
import { Pipeline, type ProblemReport } from "../src/private/pipeline.js";
import { encodeResource, newRecordFields } from "../src/private/wire.js";
import { cases } from "./cases.js";
import { SawmillServer } from "./server.js";
import { viewsOfLogsResponse } from "./views.js";

const unhandled: unknown[] = [];
process.on("unhandledRejection", (reason) => unhandled.push(reason));

const shared = await SawmillServer.start();
const skip = shared instanceof Error ? `sawmill server not available: ${shared.message}` : false;
if (skip !== false) console.warn(`# SKIP integration tests: ${skip}`);
const server = shared instanceof Error ? undefined : shared;

const run = `r${Date.now().toString(36)}`;
const servers: SawmillServer[] = [];

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  await loadOtel();
});

after(async () => {
  await server?.dispose();
  for (const s of servers) await s.dispose();
});

async function extraServer(opts?: Parameters<typeof SawmillServer.start>[0]): Promise<SawmillServer> {
  const s = await SawmillServer.start(opts);
  if (s instanceof Error) throw s;
  servers.push(s);
  return s;
}

/** logMany logs n records in chunks, yielding to the event loop between chunks; onChunk runs after each chunk. */
async function logMany(logger: winston.Logger, n: number, prefix: string, onChunk?: (done: number) => Promise<void> | void): Promise<void> {
  for (let i = 0; i < n; i += 250) {
    const end = Math.min(n, i + 250);
    for (let j = i; j < end; j++) logger.info(`${prefix} ${j}`, { seq: j, user_id: j % 97, duration_ms: j / 7 });
    await onChunk?.(end);
    await tick();
  }
}

/** stableCount waits for want, then checks the count stays there (a duplicate would push it past). */
async function stableCount(s: SawmillServer, query: string, want: number): Promise<void> {
  assert.equal(await s.waitCount(query, want, 60_000), want, `count of ${query}`);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await s.count(query), want, `count of ${query} stays ${want} (no duplicates)`);
}

describe("every mapping round-trips to the stored record", { skip }, () => {
  for (const [i, c] of cases.entries()) {
    test(c.name, { timeout: 60_000 }, async () => {
      const s = server!;
      const tag = `${run}m${i}`;
      const transport = new SawmillTransport({ service: "it-mapping", endpoint: s.endpoint, flushIntervalMs: 20 });
      const warnings: SawmillError[] = [];
      transport.on("warn", (e: SawmillError) => warnings.push(e));
      const logger = c.logger(transport);
      c.run(logger, tag);
      assert.equal(await transport.flush(10_000), true, "acknowledged");
      const q = `service=it-mapping&q=${encodeURIComponent(tag)}`;
      assert.equal(await s.waitCount(q, c.count), c.count);
      const views = viewsOfLogsResponse(await s.get(`/api/v1/logs?${q}&limit=1000`));
      assert.equal(views.length, c.count);
      c.check(views, tag);
      assert.deepEqual(warnings.map((w) => w.message), []);
      assert.equal(await transport.close(5000), true);
    });
  }
});

describe("outages", { skip }, () => {
  test("server down at start, then up: nothing lost, no duplicates", { timeout: 120_000 }, async () => {
    const s = await extraServer();
    await s.stop();
    const transport = new SawmillTransport({ service: "it-down-at-start", endpoint: s.endpoint, flushIntervalMs: 50, backoff: { initialMs: 50, maxMs: 500 } });
    const warnings: SawmillError[] = [];
    transport.on("warn", (e: SawmillError) => warnings.push(e));
    const logger = winston.createLogger({ transports: [transport] });
    await logMany(logger, 3000, `${run} early`);
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(transport.stats().retries > 0, "pushes failed and are being retried");
    assert.equal(transport.stats().acked, 0);
    assert.ok(warnings.some((w) => w.code === "UNAVAILABLE"), "an UNAVAILABLE warning was emitted");
    await s.restart();
    assert.equal(await transport.flush(30_000), true);
    const st = transport.stats();
    assert.equal(st.acked, 3000);
    assert.equal(st.droppedFull + st.droppedRejected + st.droppedRetries + st.droppedClosed, 0);
    await stableCount(s, "service=it-down-at-start", 3000);
    await transport.close(5000);
  });

  test("server killed mid-stream (SIGKILL) and restarted on the same data: nothing lost, no duplicates", { timeout: 180_000 }, async () => {
    const s = await extraServer();
    const transport = new SawmillTransport({
      service: "it-killed",
      endpoint: s.endpoint,
      flushIntervalMs: 20,
      batchSize: 200,
      maxInFlight: 4,
      backoff: { initialMs: 50, maxMs: 500 },
    });
    const logger = winston.createLogger({ transports: [transport] });
    const n = 20_000;
    let killedAt = -1;
    let restartedAt = -1;
    await logMany(logger, n, `${run} killed`, async (done) => {
      if (killedAt < 0 && transport.stats().acked >= 2000) {
        killedAt = done;
        await s.kill();
      } else if (killedAt >= 0 && restartedAt < 0 && done >= killedAt + 5000) {
        restartedAt = done;
        await s.restart();
      }
    });
    assert.ok(killedAt > 0 && restartedAt > killedAt, `killed at ${killedAt}, restarted at ${restartedAt}`);
    assert.equal(await transport.flush(60_000), true);
    const st = transport.stats();
    assert.equal(st.acked, n);
    assert.ok(st.retries > 0, "the kill made pushes fail");
    assert.equal(st.droppedFull + st.droppedRejected + st.droppedRetries + st.droppedClosed, 0);
    await stableCount(s, "service=it-killed", n);
    await transport.close(5000);
  });

  test("close() with a dead server settles within its timeout and counts what it could not deliver", { timeout: 30_000 }, async () => {
    const s = await extraServer();
    await s.stop();
    const transport = new SawmillTransport({ service: "it-dead", endpoint: s.endpoint, flushIntervalMs: 10 });
    const seen: string[] = [];
    transport.on("warn", (e: SawmillError) => seen.push(e.code));
    const logger = winston.createLogger({ transports: [transport] });
    for (let i = 0; i < 100; i++) logger.info(`dead ${i}`);
    const started = Date.now();
    assert.equal(await transport.close(1500), false);
    const took = Date.now() - started;
    assert.ok(took >= 1400 && took < 3000, `close took ${took} ms`);
    assert.equal(transport.stats().droppedClosed, 100);
    assert.ok(seen.includes("CLOSED"));
  });
});

describe("server answers", { skip }, () => {
  test("a bearer token is sent; a missing one is rejected without retries", { timeout: 60_000 }, async () => {
    const s = await extraServer({ tokens: ["s3cret"] });
    const good = new SawmillTransport({ service: "it-token", endpoint: s.endpoint, token: "s3cret", flushIntervalMs: 10 });
    winston.createLogger({ transports: [good] }).info("with token");
    assert.equal(await good.flush(10_000), true);
    assert.equal(good.stats().acked, 1);
    await good.close();

    const bad = new SawmillTransport({ service: "it-token", endpoint: s.endpoint, flushIntervalMs: 10 });
    const errors: SawmillError[] = [];
    bad.on("warn", (e: SawmillError) => errors.push(e));
    winston.createLogger({ transports: [bad] }).info("without token");
    assert.equal(await bad.flush(10_000), true, "settled: dropped, not retried forever");
    assert.equal(bad.stats().droppedRejected, 1);
    assert.equal(bad.stats().retries, 0);
    assert.equal(errors[0]?.code, "REJECTED");
    assert.equal(errors[0]?.grpcCode, 16);
    await bad.close();
    assert.equal(await s.waitCount("service=it-token", 1), 1);
  });

  test("INVALID_ARGUMENT from the server drops the batch, counts it and names the field", { timeout: 30_000 }, async () => {
    const s = server!;
    const reports: ProblemReport[] = [];
    const p = new Pipeline(
      {
        resource: encodeResource({ service: "it-invalid" }),
        batchSize: 10,
        maxBatchBytes: 1 << 20,
        flushIntervalMs: 10,
        maxBufferBytes: 1 << 24,
        onFull: "drop-newest",
        maxInFlight: 1,
        maxRetries: Infinity,
        backoffInitialMs: 10,
        backoffMaxMs: 100,
        timeoutMs: 5000,
        reportIntervalMs: 0,
      },
      new GrpcSender({ endpoint: s.endpoint, maxReconnectBackoffMs: 1000 }),
      (r) => reports.push(r),
    );
    // A time before 2000-01-01 breaks a rule the mapper never breaks: forge it here.
    p.append({ ...newRecordFields(), timeUnixNano: 1n, body: "too old" });
    assert.equal(await p.flush(10_000), true);
    assert.equal(p.stats.droppedRejected, 1);
    assert.equal(p.stats.retries, 0);
    assert.equal(reports[0]?.code, "REJECTED");
    assert.equal(reports[0]?.grpcCode, 3);
    assert.match(reports[0].message, /time_unix_nano/);
    await p.close(1000);
  });
});

const distEsm = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "esm", "index.js");

/**
 * runScript runs an ES module with node and resolves with its exit code and
 * signal. With signalWhenReady, SIGTERM is sent when the script prints the
 * line "ready" (a handshake: it has installed what it needs), never after a
 * guessed delay, so a slow, loaded machine cannot send it too early.
 */
function runScript(source: string, signalWhenReady = false): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--input-type=module", "-e", source], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let signalled = false;
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (signalWhenReady && !signalled && /^ready$/m.test(out)) {
        signalled = true;
        p.kill("SIGTERM");
      }
    });
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => p.kill("SIGKILL"), 120_000);
    p.on("exit", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, out });
    });
  });
}

describe("exit hook (opt-in)", { skip }, () => {
  const script = (service: string, exitHook: boolean, keepAlive: boolean) => `
    import winston from "winston";
    import { SawmillTransport } from ${JSON.stringify(distEsm)};
    const t = new SawmillTransport({ service: ${JSON.stringify(service)}, endpoint: ${JSON.stringify(server?.endpoint ?? "")}, exitHook: ${exitHook} });
    const logger = winston.createLogger({ transports: [t] });
    for (let i = 0; i < 50; i++) logger.info("exit " + i);
    ${keepAlive ? "setInterval(() => {}, 1000); console.log('ready');" : ""}
  `;

  test("without it, a script that never flushes loses its buffered logs (documented)", { timeout: 60_000 }, async () => {
    const r = await runScript(script(`${run}-nohook`, false, false));
    assert.equal(r.code, 0, r.out);
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(await server!.count(`service=${run}-nohook`), 0);
  });

  test("with it, a script that ends on its own delivers everything before exiting", { timeout: 60_000 }, async () => {
    const r = await runScript(script(`${run}-beforeexit`, true, false));
    assert.equal(r.code, 0, r.out);
    assert.equal(await server!.waitCount(`service=${run}-beforeexit`, 50), 50);
  });

  test("handleExceptions: an uncaught exception is delivered before winston exits the process", { timeout: 60_000 }, async () => {
    const service = `${run}-crash`;
    const r = await runScript(`
      import winston from "winston";
      import { SawmillTransport } from ${JSON.stringify(distEsm)};
      const t = new SawmillTransport({ service: ${JSON.stringify(service)}, endpoint: ${JSON.stringify(server?.endpoint ?? "")}, handleExceptions: true, flushIntervalMs: 60000 });
      const logger = winston.createLogger({ transports: [t], exitOnError: true });
      logger.info("before the crash");
      setTimeout(() => { throw new TypeError("crash for the test"); }, 10);
      setInterval(() => {}, 1000);
    `);
    assert.equal(r.code, 1, r.out);
    assert.equal(await server!.waitCount(`service=${service}`, 2), 2);
    const views = viewsOfLogsResponse(await server!.get(`/api/v1/logs?service=${service}&q=crash+for+the+test`));
    assert.equal(views[0]?.error?.type, "TypeError");
    assert.equal(views[0]?.severityNumber, 17);
  });

  test("with it, SIGTERM flushes, then the signal's default action ends the process", { timeout: 180_000 }, async () => {
    const r = await runScript(script(`${run}-sigterm`, true, true), true);
    assert.equal(r.signal, "SIGTERM", r.out);
    assert.equal(await server!.waitCount(`service=${run}-sigterm`, 50), 50);
  });
});

test("no unhandled promise rejection escaped during any of the above", () => {
  assert.deepEqual(unhandled, []);
});
