// Property test: whatever metadata a winston user logs, the transport never
// produces a record the server rejects (the server rejects a whole batch for
// one bad record). Random info objects (seeded, so a failure reproduces) go
// through the real mapper and encoder; every record is checked against the
// server's per-record rules (server/internal/validate, internal/jsonattr),
// and a batch of them is pushed to the real sawmill binary, which must store
// every one.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import winston from "winston";
import { SawmillTransport } from "../src/index.js";
import { FakeSender } from "./fake-sender.js";
import { SawmillServer } from "./server.js";
import type { LogRecord } from "../src/gen/sawmill/v1/log_pb.js";

const SEED = Number(process.env.PROPERTY_SEED ?? 20261102);

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  /** Values left to generate for the current record: bounds its size (deep and wide, not both everywhere). */
  budget = 0;
  constructor(private readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  /** str returns text mixing ASCII, NUL and other control characters, lone and paired surrogates, BMP and astral characters. */
  str(max = 40): string {
    const pieces = ["a", "Z", " ", "\u0000", "\u0001", "\u001f", "\u007f", '"', "\\", "/", "\n", "é", "€", "😀", "\ud800", "\udfff", "\ud83d", "\ude00", "\u2028", "\ufeff", "$", "…[truncated]", "\\u0000"];
    let s = "";
    const n = this.int(max);
    for (let i = 0; i < n; i++) s += this.pick(pieces);
    if (this.int(500) === 0) s += this.pick(["x", "€", "😀", "\u0000"]).repeat(this.int(40_000));
    return s;
  }
  key(): string {
    return this.int(10) === 0 ? this.str(300) : this.pick(["k", "$bytes", "$", "level", "message", "stack", "cause", "error", "err", "timestamp", "trace_id", "splat", "_truncated", ""]) + this.str(5);
  }
  value(depth: number): unknown {
    this.budget--;
    // Containers while the budget lasts (chains up to depth 24: past the server's 16), else scalars.
    const kinds = depth > 24 || this.budget <= 0 ? 10 : 19;
    switch (this.int(kinds)) {
      case 0:
        return this.str();
      case 1:
        return this.pick([0, -0, 1, -1, 2 ** 53, 2 ** 53 + 2, 1e308, -1e-308, 5e-324, NaN, Infinity, -Infinity, 0.1, 1e21, Number.MAX_VALUE]);
      case 2:
        return this.pick([0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n, -(2n ** 100n)]);
      case 3:
        return this.pick([true, false, null, undefined]);
      case 4:
        return Buffer.from(this.str(20));
      case 5:
        return this.pick([new Date(0), new Date(NaN), new Date(8.64e15), new Date()]);
      case 6:
        return Symbol(this.str(5));
      case 7:
        return this.pick([() => 1, function named() {}, class K {}]);
      case 8: {
        const e = new (this.pick([Error, TypeError, RangeError]))(this.str(), this.int(2) === 0 ? { cause: this.value(depth + 1) } : undefined) as Error & Record<string, unknown>;
        e[this.key()] = this.value(depth + 1);
        if (this.int(4) === 0) e.code = "E" + this.str(4);
        return e;
      }
      case 9:
        return this.pick([new Uint8Array([0, 255]), new Float64Array([NaN, 1.5]), new ArrayBuffer(3), new RegExp("re" + String.fromCharCode(0) + "g", "g"), new Number(NaN), new String("\u0000")]);
      default: {
        if (this.int(20) === 0) {
          // A chain deeper than the server's 16 levels.
          let v: unknown = this.str(5);
          for (let i = this.int(30); i > 0; i--) v = this.int(2) === 0 ? [v] : { [this.key()]: v };
          return v;
        }
        if (this.int(3) === 0) {
          const a: unknown[] = [];
          const n = this.int(this.int(20) === 0 ? 300 : 6);
          for (let i = 0; i < n; i++) a.push(this.value(depth + 1));
          if (this.int(10) === 0) a.push(a);
          return a;
        }
        if (this.int(8) === 0) return new Map<unknown, unknown>([[this.str(5), this.value(depth + 1)], [{ o: 1 }, 1], [Symbol("s"), 2]]);
        if (this.int(8) === 0) return new Set([this.value(depth + 1), this.str(3)]);
        const o: Record<string, unknown> = {};
        const n = this.int(this.int(20) === 0 ? 300 : 6);
        for (let i = 0; i < n; i++) o[this.key()] = this.value(depth + 1);
        if (this.int(10) === 0) o.self = o;
        if (this.int(30) === 0) Object.defineProperty(o, "boom", { enumerable: true, get: () => { throw new Error("getter \u0000"); } });
        return o;
      }
    }
  }
  meta(): Record<string, unknown> {
    this.budget = this.pick([50, 300, 3000]);
    const m: Record<string, unknown> = {};
    const n = this.int(this.int(10) === 0 ? 200 : 8);
    for (let i = 0; i < n; i++) m[this.key()] = this.value(2);
    return m;
  }
}

/** A logger without winston's default JSON format (which throws on a throwing getter before a transport sees the record). */
function rawLogger(t: SawmillTransport): winston.Logger {
  return winston.createLogger({ level: "debug", format: winston.format((info) => info)(), transports: [t] });
}

/** logRandom logs n random records through logger and returns how many winston accepted (its own code throws on a few, e.g. a Symbol meta.message). */
function logRandom(logger: winston.Logger, n: number, seed: number): number {
  const g = new Gen(prng(seed));
  let logged = 0;
  for (let i = 0; i < n; i++) {
    const level = g.pick(["error", "warn", "info", "debug"]);
    g.budget = 50;
    const message = (g.int(5) === 0 ? g.value(2) : g.str(60)) as string;
    try {
      switch (g.int(4)) {
        case 0:
          logger.log(level, message, g.meta());
          break;
        case 1:
          logger.log({ level, message, ...g.meta(), timestamp: g.pick([g.str(10), Date.now(), "2026-11-02 01:02:03", "31/12/2026 23:59:59", new Date(NaN), 1e20]) });
          break;
        case 2:
          logger.log(level, message, g.value(2), g.value(2));
          break;
        default:
          logger.log({ level, message, stack: g.pick([g.str(), [g.str()], [undefined], 42]), label: g.str(300), context: g.str() });
      }
      logged++;
    } catch {
      // winston refused it before any transport saw it.
    }
  }
  assert.ok(logged > n * 0.8, `winston accepted ${logged} of ${n}`);
  return logged;
}

/** jsonDepth returns the nesting depth of a parsed JSON value (an object or array is one level). */
function jsonDepth(v: unknown): number {
  if (v === null || typeof v !== "object") return 0;
  const kids = Array.isArray(v) ? v : Object.values(v);
  let d = 0;
  for (const k of kids) d = Math.max(d, jsonDepth(k));
  return d + 1;
}

const LONE_SURROGATE_ESCAPE = /\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}/;

/** checkRecord applies the server's per-record rules (validate.go, jsonattr) to one decoded record. */
function checkRecord(r: LogRecord, where: string): void {
  const utf8 = (s: string, max: number, field: string): void => {
    const b = Buffer.from(s, "utf8");
    assert.ok(max === 0 || b.length <= max, `${where}.${field}: ${b.length} bytes > ${max}`);
  };
  utf8(r.body, 64 * 1024, "body");
  utf8(r.severityText, 32, "severity_text");
  utf8(r.logger, 256, "logger");
  const sev = Number(r.severityNumber);
  assert.ok(sev >= 0 && sev <= 24, `${where}.severity_number ${sev}`);
  const minNs = 946_684_800_000_000_000n;
  const maxNs = BigInt(Date.now() + 24 * 3600_000) * 1_000_000n;
  for (const [f, t] of [["time", r.timeUnixNano], ["observed", r.observedTimeUnixNano]] as const) {
    assert.ok(t === 0n || (t >= minNs && t <= maxNs), `${where}.${f} ${t}`);
  }
  if (r.error !== undefined) utf8(r.error.stack, 256 * 1024, "error.stack");
  const raw = Buffer.from(r.attributesJson);
  if (raw.length === 0) return;
  assert.ok(raw.length <= 64 * 1024, `${where}.attributes_json: ${raw.length} bytes`);
  const text = raw.toString("utf8");
  assert.ok(Buffer.from(text, "utf8").equals(raw), `${where}.attributes_json: valid UTF-8`);
  // eslint-disable-next-line no-control-regex -- raw control characters are what the server refuses
  assert.ok(!/[\u0000-\u001f]/.test(text), `${where}.attributes_json: a raw control character`);
  assert.ok(!LONE_SURROGATE_ESCAPE.test(text), `${where}.attributes_json: an unpaired surrogate escape`);
  const doc = JSON.parse(text) as unknown;
  assert.ok(doc !== null && typeof doc === "object" && !Array.isArray(doc), `${where}.attributes_json: an object`);
  assert.ok(Object.keys(doc).length <= 128, `${where}.attributes_json: ${Object.keys(doc).length} keys`);
  assert.ok(jsonDepth(doc) <= 16, `${where}.attributes_json: depth ${jsonDepth(doc)}`);
  for (const k of Object.keys(doc)) assert.ok(!k.startsWith("$"), `${where}.attributes_json: reserved key ${JSON.stringify(k)}`);
}

test("random metadata: every record meets the server's per-record rules", async () => {
  const sender = new FakeSender();
  const t = new SawmillTransport({ service: "property", flushIntervalMs: 10, maxBufferBytes: 1 << 30 }, sender);
  let n = 0; // what reached the transport (winston drops a record whose meta overrides the level with an unknown one)
  t.on("logged", () => n++);
  const logger = rawLogger(t);
  logRandom(logger, 1500, SEED);
  assert.equal(await t.flush(60_000), true);
  const records = sender.records();
  assert.equal(records.length, n, `seed ${SEED}: every log became a record`);
  records.forEach((r, i) => checkRecord(r, `seed ${SEED} record ${i}`));
  assert.equal(t.stats().droppedInvalid, 0);
  await t.close(100);
});

const started = await SawmillServer.start();
const server = started instanceof Error ? undefined : started;
after(async () => {
  await server?.dispose();
});

test("random metadata: the real server stores every record, no batch rejected", { skip: started instanceof Error ? `sawmill server not available: ${started.message}` : false, timeout: 180_000 }, async () => {
  const s = server!;
  const t = new SawmillTransport({ service: "property-it", endpoint: s.endpoint, flushIntervalMs: 20, batchSize: 100, maxBufferBytes: 1 << 30 });
  const rejected: string[] = [];
  t.on("warn", (e: Error) => rejected.push(e.message));
  let n = 0;
  t.on("logged", () => n++);
  const logger = rawLogger(t);
  logRandom(logger, 600, SEED + 1);
  assert.equal(await t.flush(120_000), true);
  assert.deepEqual(rejected, [], `seed ${SEED + 1}`);
  const st = t.stats();
  assert.equal(st.droppedRejected + st.droppedInvalid + st.droppedFull, 0);
  assert.equal(st.acked, n);
  assert.equal(await s.waitCount("service=property-it", n), n);
  await t.close(1000);
});
