// Mapping cases shared by the unit tests (fake sender, decoded protobuf) and
// the integration tests (real sawmill server, stored entries read back over
// HTTP). Each case builds a winston logger around the transport it is given,
// logs, and checks the records as they arrive at the other end.
import assert from "node:assert/strict";
import winston from "winston";
import { context, trace, TraceFlags } from "@opentelemetry/api";
import { connect, createServer } from "node:net";
import type TransportStream from "winston-transport";
import { TRUNCATED } from "../src/private/json.js";

/** refused returns the real error of a TCP connect to a loopback port nobody listens on. */
async function refused(): Promise<NodeJS.ErrnoException> {
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0));
    });
  });
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    sock.on("error", (e) => resolve(e));
    sock.on("connect", () => {
      sock.destroy();
      resolve(Object.assign(new Error("port unexpectedly open"), { code: "UNEXPECTED" }));
    });
  });
}

const econnrefused = await refused();

/** A database driver's error, shaped like pg's DatabaseError. */
class DatabaseError extends Error {
  override name = "DatabaseError";
  code = "23505";
  detail = "Key (email)=(a@b.c) already exists.";
  constraint = "users_email_key";
  severity = "ERROR";
}

/** A record as it arrived, in one shape for both ends. */
export interface RecordView {
  severityNumber: number;
  severityText: string;
  body: string;
  /** The attributes document as sent/stored, verbatim ("" for none). */
  attributesRaw: string;
  attributes: Record<string, unknown>;
  timeUnixNano: bigint;
  logger: string;
  /** Hex, "" for none. */
  traceId: string;
  spanId: string;
  error: { type: string; message: string; stack: string } | undefined;
}

export interface MappingCase {
  name: string;
  /** How many records the case logs. */
  count: number;
  logger(transport: TransportStream): winston.Logger;
  run(logger: winston.Logger, tag: string): void;
  check(records: RecordView[], tag: string): void;
}

function byBody(records: RecordView[], body: string): RecordView {
  const r = records.find((x) => x.body === body);
  assert.ok(r !== undefined, `no record with body ${JSON.stringify(body)} in ${JSON.stringify(records.map((x) => x.body))}`);
  return r;
}

function plain(transport: TransportStream, opts: winston.LoggerOptions = {}): winston.Logger {
  return winston.createLogger({ level: "silly", transports: [transport], ...opts });
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** ms of wall-clock fields in the process's local zone, in ns. */
const localNs = (y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): bigint =>
  BigInt(new Date(y, mo - 1, d, h, mi, s, ms).getTime()) * 1_000_000n;

/** A nest-winston WinstonLogger-shaped call: what WinstonLogger.error(message, trace, context) passes to winston. */
function nestError(l: winston.Logger, message: unknown, trace?: string, context?: string): void {
  if (message instanceof Error) {
    const { message: msg, name: _name, stack: _stack, ...meta } = message as Error & Record<string, unknown>;
    void _name;
    void _stack;
    l.error(msg, { context, stack: [trace ?? message.stack], error: message, ...meta });
    return;
  }
  l.error(message as string, { context, stack: [trace] });
}

export const cases: MappingCase[] = [
  {
    name: "npm levels map to severity numbers, level names kept",
    count: 7,
    logger: (t) => plain(t),
    run: (l, tag) => {
      for (const level of ["error", "warn", "info", "http", "verbose", "debug", "silly"]) l.log(level, `${tag} ${level}`);
    },
    check: (rs, tag) => {
      const want: Record<string, number> = { error: 17, warn: 13, info: 9, http: 8, verbose: 6, debug: 5, silly: 1 };
      for (const [level, sev] of Object.entries(want)) {
        const r = byBody(rs, `${tag} ${level}`);
        assert.equal(r.severityNumber, sev, level);
        assert.equal(r.severityText, level);
      }
    },
  },
  {
    name: "syslog levels",
    count: 8,
    logger: (t) => plain(t, { levels: winston.config.syslog.levels, level: "debug" }),
    run: (l, tag) => {
      for (const level of Object.keys(winston.config.syslog.levels)) l.log(level, `${tag} ${level}`);
    },
    check: (rs, tag) => {
      const want: Record<string, number> = { emerg: 24, alert: 23, crit: 21, error: 17, warning: 13, notice: 10, info: 9, debug: 5 };
      for (const [level, sev] of Object.entries(want)) {
        const r = byBody(rs, `${tag} ${level}`);
        assert.equal(r.severityNumber, sev, level);
        assert.equal(r.severityText, level);
      }
    },
  },
  {
    name: "custom level maps: known names, then rank in the map",
    count: 4,
    logger: (t) => plain(t, { levels: { fatal: 0, oops: 1, chatter: 2, noise: 3 }, level: "noise" }),
    run: (l, tag) => {
      for (const level of ["fatal", "oops", "chatter", "noise"]) l.log(level, `${tag} ${level}`);
    },
    check: (rs, tag) => {
      // fatal is a known name (21); the others spread over the rank scale 21..1.
      const want: Record<string, number> = { fatal: 21, oops: 13, chatter: 9, noise: 1 };
      for (const [level, sev] of Object.entries(want)) {
        const r = byBody(rs, `${tag} ${level}`);
        assert.equal(r.severityNumber, sev, level);
        assert.equal(r.severityText, level);
      }
    },
  },
  {
    name: "timestamp from format.timestamp is kept exactly; label is the logger; colorized level is uncolored",
    count: 1,
    logger: (t) =>
      plain(t, {
        format: winston.format.combine(
          winston.format.timestamp({ format: () => "2026-11-02T01:02:03.456Z" }),
          winston.format.label({ label: "billing" }),
          winston.format.colorize(),
        ),
      }),
    run: (l, tag) => {
      l.info(`${tag} stamped`);
    },
    check: (rs, tag) => {
      const stamped = byBody(rs, `${tag} stamped`);
      assert.equal(stamped.timeUnixNano, 1_793_581_323_456_000_000n);
      assert.equal(stamped.logger, "billing");
      assert.equal(stamped.severityText, "info");
      assert.equal(stamped.severityNumber, 9);
      assert.equal(stamped.attributes.timestamp, undefined, "the time field holds it");
    },
  },
  {
    name: "a meta timestamp with nanoseconds is kept exactly; an unparseable one stays an attribute",
    count: 3,
    logger: (t) => plain(t),
    run: (l, tag) => {
      l.info(`${tag} ns`, { timestamp: "2026-11-01T10:20:30.123456789Z" });
      l.info(`${tag} offset`, { timestamp: "2026-11-01T12:20:30.5+02:00" });
      l.info(`${tag} bad`, { timestamp: "the day before yesterday" });
    },
    check: (rs, tag) => {
      assert.equal(byBody(rs, `${tag} ns`).timeUnixNano, 1_793_528_430_123_456_789n);
      assert.equal(byBody(rs, `${tag} offset`).timeUnixNano, 1_793_528_430_500_000_000n);
      const bad = byBody(rs, `${tag} bad`);
      assert.equal(bad.attributes.timestamp, "the day before yesterday");
      assert.ok(nowNs() - bad.timeUnixNano < 120_000_000_000n, "logged now");
    },
  },
  {
    name: "defaultMeta, child metadata and splat (with and without format.splat)",
    count: 3,
    logger: (t) => plain(t, { defaultMeta: { service_role: "api", region: "eu-1" } }),
    run: (l, tag) => {
      const child = l.child({ requestId: "req-7", user: { id: 42 } });
      child.info(`${tag} child`, { extra: true });
      l.info(`${tag} %s scored %d`, "alice", 10);
      const splatLogger = winston.createLogger({
        level: "silly",
        format: winston.format.splat(),
        defaultMeta: { service_role: "api" },
        transports: l.transports,
      });
      splatLogger.info(`${tag} %s paid %d`, "bob", 5, { orderId: "o-1" });
    },
    check: (rs, tag) => {
      const child = byBody(rs, `${tag} child`);
      assert.deepEqual(child.attributes, { service_role: "api", region: "eu-1", requestId: "req-7", user: { id: 42 }, extra: true });
      const raw = byBody(rs, `${tag} %s scored %d`);
      assert.deepEqual(raw.attributes.splat, ["alice", 10], "uninterpolated splat arguments kept");
      const fmt = byBody(rs, `${tag} bob paid 5`);
      assert.equal(fmt.attributes.orderId, "o-1");
      assert.equal(fmt.attributes.splat, undefined);
    },
  },
  {
    name: "nested objects and arrays keep their JSON types (int vs double)",
    count: 1,
    logger: (t) => plain(t),
    run: (l, tag) => {
      l.info(`${tag} typed`, {
        http: { status: 200, latency_ms: 12.5, ok: true, headers: ["a", "b"], none: null },
        whole: 2.0,
        ratio: 0.25,
        tiny: 1e-9,
        nan: NaN,
        inf: -Infinity,
        nums: [1, 1.5, -3],
        when: new Date("2026-01-02T03:04:05.000Z"),
      });
    },
    check: (rs, tag) => {
      const r = byBody(rs, `${tag} typed`);
      assert.deepEqual(r.attributes.http, { status: 200, latency_ms: 12.5, ok: true, headers: ["a", "b"], none: null });
      assert.match(r.attributesRaw, /"status":200[,}]/);
      assert.match(r.attributesRaw, /"latency_ms":12\.5[,}]/);
      assert.match(r.attributesRaw, /"whole":2[,}]/, "an integral JS number is an int");
      assert.match(r.attributesRaw, /"tiny":1e-9[,}]/);
      assert.equal(r.attributes.nan, "NaN");
      assert.equal(r.attributes.inf, "-Inf");
      assert.deepEqual(r.attributes.nums, [1, 1.5, -3]);
      assert.equal(r.attributes.when, "2026-01-02T03:04:05.000Z");
    },
  },
  {
    name: "Error objects: logged directly, as meta, under 'error', via format.errors; causes in the stack",
    count: 4,
    logger: (t) => plain(t),
    run: (l, tag) => {
      const root = new RangeError("disk quota");
      const err = new TypeError(`${tag} direct`, { cause: root }) as TypeError & { code?: string };
      err.code = "E_QUOTA";
      l.error(err);
      l.error(`${tag} as meta`, new SyntaxError("bad token"));
      l.warn(`${tag} under key`, { error: new Error("keyed"), attempt: 3 });
      const withFormat = winston.createLogger({ format: winston.format.errors({ stack: true }), transports: l.transports });
      withFormat.error(new EvalError(`${tag} formatted`));
    },
    check: (rs, tag) => {
      const direct = byBody(rs, `${tag} direct`);
      assert.equal(direct.severityNumber, 17);
      assert.equal(direct.error?.type, "TypeError");
      assert.equal(direct.error?.message, `${tag} direct`);
      assert.match(direct.error.stack, /^TypeError: .* direct\n\s+at /);
      assert.match(direct.error.stack, /\nCaused by: RangeError: disk quota\n\s+at /);
      assert.equal(direct.attributes.code, "E_QUOTA");
      const meta = byBody(rs, `${tag} as meta bad token`);
      assert.equal(meta.error?.type, "SyntaxError");
      assert.equal(meta.error?.message, "bad token");
      assert.equal(meta.attributes.stack, undefined, "the stack went to the error field");
      const keyed = byBody(rs, `${tag} under key`);
      assert.equal(keyed.error?.type, "Error");
      assert.equal(keyed.error?.message, "keyed");
      assert.equal(keyed.attributes.attempt, 3);
      assert.equal(keyed.attributes.error, undefined);
      const formatted = byBody(rs, `${tag} formatted`);
      assert.equal(formatted.error?.type, "EvalError");
      assert.match(formatted.error.stack, /^EvalError: .* formatted/);
    },
  },
  {
    name: "trace and span ids from the active OpenTelemetry context and from trace_id/span_id fields",
    count: 3,
    logger: (t) => plain(t),
    run: (l, tag) => {
      const sc = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: TraceFlags.SAMPLED };
      context.with(trace.setSpanContext(context.active(), sc), () => l.info(`${tag} in span`));
      l.info(`${tag} fields`, { trace_id: "4bf92f3577b34da6a3ce929d0e0e4736", span_id: "00f067aa0ba902b7", trace_flags: "01" });
      l.info(`${tag} bad ids`, { trace_id: "not-hex" });
    },
    check: (rs, tag) => {
      const inSpan = byBody(rs, `${tag} in span`);
      assert.equal(inSpan.traceId, "0af7651916cd43dd8448eb211c80319c");
      assert.equal(inSpan.spanId, "b7ad6b7169203331");
      const fields = byBody(rs, `${tag} fields`);
      assert.equal(fields.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
      assert.equal(fields.spanId, "00f067aa0ba902b7");
      assert.equal(fields.attributes.trace_id, undefined);
      const bad = byBody(rs, `${tag} bad ids`);
      assert.equal(bad.traceId, "");
      assert.equal(bad.attributes.trace_id, "not-hex", "an unusable id stays an attribute");
    },
  },
  {
    name: "circular refs, BigInt, Buffers, Symbols, undefined, NUL and huge values never throw",
    count: 3,
    logger: (t) => plain(t),
    run: (l, tag) => {
      const circ: Record<string, unknown> = { name: "loop" };
      circ.self = circ;
      l.info(`${tag} odd`, {
        circ,
        big: 12345678901234567890n,
        small: 7n,
        buf: Buffer.from("hi"),
        sym: Symbol("s"),
        gone: undefined,
        arr: [undefined, 1],
        nul: "a\u0000b",
        $dollar: 1,
      });
      const huge: Record<string, unknown> = { blob: "h".repeat(200_000) };
      for (let i = 0; i < 300; i++) huge[`k${i}`] = "v".repeat(500);
      l.info(`${tag} huge`, huge);
      l.info(`${tag} ` + "m".repeat(100_000));
    },
    check: (rs, tag) => {
      const odd = byBody(rs, `${tag} odd`);
      assert.deepEqual(odd.attributes.circ, { name: "loop", self: "[Circular]" });
      assert.equal(odd.attributes.big, "12345678901234567890", "beyond int64: a string");
      assert.match(odd.attributesRaw, /"small":7[,}]/);
      assert.deepEqual(odd.attributes.buf, { $bytes: "aGk=" });
      assert.equal(odd.attributes.sym, "Symbol(s)");
      assert.equal("gone" in odd.attributes, false);
      assert.deepEqual(odd.attributes.arr, [null, 1]);
      assert.equal(odd.attributes.nul, "a\u0000b");
      assert.equal(odd.attributes._$dollar, 1);
      const huge = byBody(rs, `${tag} huge`);
      assert.ok(Buffer.byteLength(huge.attributesRaw) <= 64 * 1024, `${Buffer.byteLength(huge.attributesRaw)} bytes`);
      assert.ok((huge.attributes.blob as string).endsWith(TRUNCATED));
      assert.ok(String(huge.attributes._truncated).endsWith(TRUNCATED));
      const long = rs.find((r) => r.body.startsWith(`${tag} mmmm`));
      assert.ok(long !== undefined);
      assert.ok(Buffer.byteLength(long.body) <= 64 * 1024);
      assert.ok(long.body.endsWith(TRUNCATED));
    },
  },
  {
    name: "an Error's own fields are kept wherever it sits: real ECONNREFUSED under err/error, a driver error, deep, causes",
    count: 5,
    logger: (t) => plain(t),
    run: (l, tag) => {
      l.error(`${tag} err`, { err: econnrefused });
      l.error(`${tag} error`, { error: econnrefused, attempt: 2 });
      const db = new DatabaseError(`duplicate key value violates unique constraint "users_email_key"`);
      l.error(`${tag} db`, { err: db });
      const wrapped = new Error("create user", { cause: db });
      (wrapped as Error & { op?: string }).op = "insert";
      l.error(`${tag} cause`, { err: wrapped });
      l.warn(`${tag} deep`, { ctx: { retry: { last: econnrefused } }, all: [db] });
    },
    check: (rs, tag) => {
      const want = { errno: econnrefused.errno, code: "ECONNREFUSED", syscall: "connect", address: "127.0.0.1", port: (econnrefused as { port?: number }).port };
      assert.equal(typeof want.port, "number");
      for (const key of ["err", "error"]) {
        const r = byBody(rs, `${tag} ${key}`);
        assert.equal(r.error?.type, "Error");
        assert.match(r.error.message, /^connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
        assert.match(r.error.stack, /^Error: connect ECONNREFUSED/);
        assert.deepEqual(r.attributes[key], want, `${key}: the fields winston's own JSON shows`);
      }
      assert.equal(byBody(rs, `${tag} error`).attributes.attempt, 2);
      const db = byBody(rs, `${tag} db`);
      assert.equal(db.error?.type, "DatabaseError");
      assert.deepEqual(db.attributes.err, { name: "DatabaseError", code: "23505", detail: "Key (email)=(a@b.c) already exists.", constraint: "users_email_key", severity: "ERROR" });
      const cause = byBody(rs, `${tag} cause`);
      assert.match(cause.error!.stack, /\nCaused by: DatabaseError: duplicate key/);
      assert.deepEqual(cause.attributes.err, {
        op: "insert",
        cause: { name: "DatabaseError", code: "23505", detail: "Key (email)=(a@b.c) already exists.", constraint: "users_email_key", severity: "ERROR" },
      });
      const deep = byBody(rs, `${tag} deep`);
      const last = (deep.attributes.ctx as { retry: { last: Record<string, unknown> } }).retry.last;
      assert.equal(last.code, "ECONNREFUSED");
      assert.equal(last.syscall, "connect");
      assert.equal(last.port, want.port);
      assert.match(String(last.stack), /^Error: connect ECONNREFUSED/);
      assert.equal((deep.attributes.all as Record<string, unknown>[])[0]!.constraint, "users_email_key");
    },
  },
  {
    name: "timestamps: unambiguous forms are kept, anything else is never guessed (observed time, original text kept)",
    count: 6,
    logger: (t) => plain(t),
    run: (l, tag) => {
      const dmy = winston.createLogger({ format: winston.format.timestamp({ format: "DD/MM/YYYY HH:mm:ss.SSS" }), transports: l.transports });
      dmy.info(`${tag} dmy`);
      l.info(`${tag} dmy-meta`, { timestamp: "02/12/2026 05:06:07.123" });
      l.info(`${tag} local`, { timestamp: "2026-11-02 01:02:03.456" });
      l.info(`${tag} rfc2822`, { timestamp: "Mon, 02 Nov 2026 01:02:03 GMT" });
      l.info(`${tag} month13`, { timestamp: "2026-13-02T01:02:03Z" });
      l.info(`${tag} epoch`, { timestamp: 1_793_581_323_456 });
    },
    check: (rs, tag) => {
      for (const body of [`${tag} dmy`, `${tag} dmy-meta`, `${tag} month13`]) {
        const r = byBody(rs, body);
        assert.equal(typeof r.attributes.timestamp, "string", `${body}: the original text is kept`);
        assert.ok(nowNs() - r.timeUnixNano < 600_000_000_000n && r.timeUnixNano <= nowNs(), `${body}: observed time, not a guess (${r.timeUnixNano})`);
      }
      assert.match(String(byBody(rs, `${tag} dmy`).attributes.timestamp), /^\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d\.\d{3}$/);
      assert.equal(byBody(rs, `${tag} dmy-meta`).attributes.timestamp, "02/12/2026 05:06:07.123");
      assert.equal(byBody(rs, `${tag} month13`).attributes.timestamp, "2026-13-02T01:02:03Z");
      const local = byBody(rs, `${tag} local`);
      assert.equal(local.timeUnixNano, localNs(2026, 11, 2, 1, 2, 3, 456), "no zone: the process's local time, as winston writes it");
      assert.equal(local.attributes.timestamp, undefined);
      assert.equal(byBody(rs, `${tag} rfc2822`).timeUnixNano, 1_793_581_323_000_000_000n);
      assert.equal(byBody(rs, `${tag} epoch`).timeUnixNano, 1_793_581_323_456_000_000n);
    },
  },
  {
    name: "a message longer than 64 KiB is cut at exactly 64 KiB of UTF-8, with the marker",
    count: 2,
    logger: (t) => plain(t),
    run: (l, tag) => {
      l.info(`${tag} ` + "a".repeat(70_000));
      l.info(`${tag} ` + "€".repeat(30_000));
    },
    check: (rs, tag) => {
      const ascii = rs.find((r) => r.body.startsWith(`${tag} aaa`));
      assert.ok(ascii !== undefined);
      assert.equal(Buffer.byteLength(ascii.body), 64 * 1024, "as long as the limit allows");
      assert.ok(ascii.body.endsWith("a" + TRUNCATED));
      const euro = rs.find((r) => r.body.startsWith(`${tag} €€€`));
      assert.ok(euro !== undefined);
      const n = Buffer.byteLength(euro.body);
      assert.ok(n <= 64 * 1024 && n > 64 * 1024 - 3, `${n} bytes`);
      assert.ok(euro.body.endsWith("€" + TRUNCATED));
    },
  },
  {
    name: "nest-winston: logger.error(message, trace) gives the error field; Nest's ExceptionsHandler record has the stack once",
    count: 3,
    logger: (t) => plain(t),
    run: (l, tag) => {
      const err = new TypeError(`${tag} handler boom`);
      nestError(l, `${tag} with trace`, err.stack, "UsersService");
      nestError(l, err, undefined, "ExceptionsHandler");
      nestError(l, `${tag} no trace`, undefined, "UsersService");
    },
    check: (rs, tag) => {
      const traced = byBody(rs, `${tag} with trace`);
      assert.equal(traced.error?.type, "TypeError");
      assert.equal(traced.error?.message, `${tag} handler boom`);
      assert.match(traced.error.stack, /^TypeError: .* handler boom\n\s+at /);
      assert.equal(traced.attributes.stack, undefined);
      assert.equal(traced.attributes.context, "UsersService");
      const handler = byBody(rs, `${tag} handler boom`);
      assert.equal(handler.error?.type, "TypeError");
      assert.match(handler.error.stack, /^TypeError: .* handler boom\n\s+at /);
      assert.deepEqual(Object.keys(handler.attributes), ["context"], "the stack once, in the error field");
      assert.equal(handler.attributesRaw.includes("handler boom"), false);
      const bare = byBody(rs, `${tag} no trace`);
      assert.equal(bare.error, undefined);
      assert.deepEqual(bare.attributes, { context: "UsersService" });
    },
  },
];
