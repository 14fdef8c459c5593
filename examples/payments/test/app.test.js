// The payments API against a real HTTP server on loopback, with the logs
// captured by an in-memory winston transport (what winston-sawmill would
// receive).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import winston from "winston";
import Transport from "winston-transport";
import { createApp, LIMIT_CENTS } from "../src/app.js";
import { parseTraceParent } from "../src/trace.js";

class Capture extends Transport {
  constructor() {
    super();
    /** @type {Record<string, unknown>[]} */
    this.logs = [];
  }
  /** @param {Record<string, unknown>} info @param {() => void} next */
  log(info, next) {
    this.logs.push(info);
    next();
  }
}

/** @returns {Promise<{ url: string, capture: Capture, close: () => Promise<void> }>} */
async function start() {
  const capture = new Capture();
  const logger = winston.createLogger({ format: winston.format.errors({ stack: true }), transports: [capture] });
  const server = createServer(createApp(logger));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
  const a = /** @type {import("node:net").AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${a.port}`,
    capture,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const headers = { "content-type": "application/json", traceparent: `00-${TRACE}-00f067aa0ba902b7-01`, "x-request-id": "req-1" };

test("captures, declines and fails payments with the request's trace", async () => {
  const s = await start();
  try {
    /** @type {{ body: Record<string, unknown>, extra: Record<string, string>, status: number, level: string, message: string }[]} */
    const cases = [
      { body: { order_id: "o1", amount_cents: 100 }, extra: {}, status: 201, level: "info", message: "payment captured" },
      { body: { order_id: "o2", amount_cents: LIMIT_CENTS + 1 }, extra: {}, status: 402, level: "warn", message: "payment declined" },
      { body: { order_id: "o3", amount_cents: 100 }, extra: { "x-fault": "db" }, status: 500, level: "error", message: "capture payment" },
      { body: { order_id: "", amount_cents: 100 }, extra: {}, status: 400, level: "warn", message: "invalid payment request" },
    ];
    for (const c of cases) {
      const res = await fetch(`${s.url}/payments`, { method: "POST", headers: { ...headers, ...c.extra }, body: JSON.stringify(c.body) });
      assert.equal(res.status, c.status, c.message);
      assert.equal(res.headers.get("x-trace-id"), TRACE);
      assert.equal(res.headers.get("x-request-id"), "req-1");
      const log = s.capture.logs.find((l) => l.message === c.message);
      assert.ok(log, `logged ${c.message}`);
      assert.equal(log.level, c.level);
      assert.equal(log.trace_id, TRACE);
      assert.match(String(log.span_id), /^[0-9a-f]{16}$/);
      assert.notEqual(log.span_id, "00f067aa0ba902b7", "a span of its own");
      assert.equal(log.request_id, "req-1");
    }
    const failed = s.capture.logs.find((l) => l.message === "capture payment");
    const err = /** @type {Error} */ (failed?.error);
    assert.equal(err.name, "LedgerUnavailableError");
    assert.match(String(err.stack), /createPayment/);
    assert.ok(err.cause instanceof Error);
    assert.equal(s.capture.logs.filter((l) => l.message === "request served").length, cases.length);
  } finally {
    await s.close();
  }
});

test("reads payments back, and answers health checks without logging", async () => {
  const s = await start();
  try {
    const created = await fetch(`${s.url}/payments`, { method: "POST", headers, body: JSON.stringify({ order_id: "o1", amount_cents: 5 }) });
    const p = /** @type {{ id: string }} */ (await created.json());
    assert.equal((await fetch(`${s.url}/payments/${p.id}`)).status, 200);
    assert.equal((await fetch(`${s.url}/payments/nope`)).status, 404);
    assert.ok(s.capture.logs.some((l) => l.message === "payment not found" && l.level === "warn"));
    const before = s.capture.logs.length;
    const h = await fetch(`${s.url}/healthz`);
    assert.deepEqual(await h.json(), { status: "ok" });
    assert.equal(s.capture.logs.length, before);
  } finally {
    await s.close();
  }
});

test("parseTraceParent", () => {
  assert.deepEqual(parseTraceParent(`00-${TRACE}-00f067aa0ba902b7-01`), { traceId: TRACE, sampled: true });
  assert.deepEqual(parseTraceParent(`00-${TRACE}-00f067aa0ba902b7-00`), { traceId: TRACE, sampled: false });
  for (const bad of ["", "garbage", `01-${TRACE}-00f067aa0ba902b7-01`, `00-${"0".repeat(32)}-00f067aa0ba902b7-01`, `00-${TRACE}-${"0".repeat(16)}-01`]) {
    assert.equal(parseTraceParent(bad), undefined, bad);
  }
});
