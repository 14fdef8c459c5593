// Mapping of winston info objects onto sawmill.v1.LogRecord fields.
//
//   level        -> severity_number (SeverityMapper) and severity_text (the
//                   uncolored info[LEVEL], else info.level without ANSI codes)
//   message      -> body (non-strings as JSON text), at most 64 KiB
//   timestamp    -> time_unix_nano when it parses and lies in the range the
//                   server accepts (2000-01-01 .. now + 24 h); otherwise the
//                   original value is kept as the attribute "timestamp" and
//                   the time is the moment of logging
//   label        -> logger
//   trace_id/span_id (or traceId/spanId) -> trace_id/span_id; else the active
//                   OpenTelemetry span, when @opentelemetry/api is installed
//   an Error (the info itself, one passed as a splat argument, an Error under
//   "error"/"err", or info.stack from format.errors) -> error {type, message,
//                   stack with its "Caused by:" chain}
//   everything else (defaultMeta, child metadata, merged splat objects)
//                -> attributes_json, by the rules in json.ts; splat arguments
//                   no format interpolated are kept as the attribute "splat".

import { JsonWriter, TRUNCATED, errorType, truncateString, type JsonLimits } from "./json.js";
import type { RecordFields } from "./wire.js";
import { SeverityMapper } from "./severity.js";
import { Clock } from "./clock.js";
import { activeSpan, validHexId } from "./otel.js";

const LEVEL = Symbol.for("level");
const SPLAT = Symbol.for("splat");

/** Server limits (log.proto) in UTF-8 bytes. */
const MAX_BODY_BYTES = 64 * 1024;
const MAX_SEVERITY_TEXT_BYTES = 32;
const MAX_LOGGER_BYTES = 256;
const MAX_ERROR_MESSAGE_CHARS = 8 * 1024;
const MAX_ERROR_STACK_CHARS = 32 * 1024;
const MAX_CAUSES = 8;

/** Earliest time the server accepts: 2000-01-01T00:00:00Z in unix ms. */
const MIN_TIME_MS = 946_684_800_000;
const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

// eslint-disable-next-line no-control-regex -- ANSI color codes start with ESC
const ANSI = /\u001b\[[0-9;]*m/g;
const FORMAT_TOKENS = /%[scdjifoO]/;
const ISO =
  /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d(?::?\d\d)?)$/;


/** cutUtf8 truncates s to at most maxBytes UTF-8 bytes, marker included. */
export function cutUtf8(s: string, maxBytes: number): string {
  if (s.length * 3 <= maxBytes) return s;
  if (Buffer.byteLength(s, "utf8") <= maxBytes) return s;
  // Shrink in characters until the bytes fit (at most a few rounds).
  let chars = Math.min(s.length, maxBytes);
  for (;;) {
    const t = truncateString(s, chars);
    if (Buffer.byteLength(t, "utf8") <= maxBytes || chars <= TRUNCATED.length) return t;
    chars = Math.floor(chars * 0.8);
  }
}

/** parseTimestamp returns unix nanoseconds for a timestamp value, or undefined. */
export function parseTimestamp(v: unknown): bigint | undefined {
  let ms: number;
  if (typeof v === "string") {
    const m = ISO.exec(v);
    if (m !== null) {
      const base = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
      if (Number.isNaN(base)) return undefined;
      let offsetMs = 0;
      const tz = m[8]!;
      if (tz !== "Z") {
        const sign = tz[0] === "-" ? -1 : 1;
        const digits = tz.slice(1).replace(":", "");
        offsetMs = sign * (+digits.slice(0, 2) * 60 + +(digits.slice(2, 4) || "0")) * 60_000;
      }
      const frac = m[7] ?? "";
      const fracNs = frac === "" ? 0n : BigInt(frac.padEnd(9, "0"));
      return BigInt(base - offsetMs) * 1_000_000n + fracNs;
    }
    ms = Date.parse(v);
  } else if (typeof v === "number") {
    ms = v;
  } else if (v instanceof Date) {
    ms = v.getTime();
  } else {
    return undefined;
  }
  if (!Number.isFinite(ms)) return undefined;
  return BigInt(Math.trunc(ms)) * 1_000_000n + BigInt(Math.round((ms - Math.trunc(ms)) * 1e6));
}

function inRange(ns: bigint, nowNs: bigint): boolean {
  return ns >= BigInt(MIN_TIME_MS) * 1_000_000n && ns <= nowNs + BigInt(MAX_FUTURE_MS) * 1_000_000n;
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return "[unprintable]";
  }
}

/** describeCause renders one link of a cause chain. */
function describeError(e: unknown): string {
  if (e instanceof Error) {
    const stack = e.stack;
    if (typeof stack === "string" && stack !== "") return stack;
    return `${errorType(e)}: ${safeString(e.message)}`;
  }
  if (typeof e === "object" && e !== null) {
    const o = e as { stack?: unknown; message?: unknown };
    if (typeof o.stack === "string") return o.stack;
    if (typeof o.message === "string") return o.message;
  }
  return safeString(e);
}

/** stackWithCauses returns the stack of e followed by its causes ("Caused by: …") and aggregated errors. */
export function stackWithCauses(first: string, cause: unknown, aggregated?: unknown): string {
  let out = first;
  if (Array.isArray(aggregated)) {
    for (let i = 0; i < aggregated.length && i < MAX_CAUSES; i++) {
      out += `\nAggregated [${i}]: ${describeError(aggregated[i])}`;
    }
  }
  const seen: unknown[] = [];
  let c = cause;
  for (let depth = 0; c !== undefined && c !== null; depth++) {
    if (depth >= MAX_CAUSES) {
      out += `\nCaused by: …${TRUNCATED}`;
      break;
    }
    if (seen.includes(c)) {
      out += "\nCaused by: [Circular]";
      break;
    }
    seen.push(c);
    out += `\nCaused by: ${describeError(c)}`;
    c = typeof c === "object" ? (c as { cause?: unknown }).cause : undefined;
    if (out.length > MAX_ERROR_STACK_CHARS) break;
  }
  return out;
}

/** errorTypeFromStack reads "TypeError" out of a stack's first line "TypeError: boom". */
function errorTypeFromStack(stack: string): string {
  const m = /^([A-Za-z_$][\w$.]*)(?::|\n|$)/.exec(stack);
  return m !== null ? m[1]! : "Error";
}

export interface MapperOptions {
  severities?: Readonly<Record<string, number>>;
  limits: JsonLimits;
  /** Look up the active OpenTelemetry span. */
  otel: boolean;
}

type Info = Record<string | symbol, unknown>;

/** Which info keys went into record fields (and so stay out of the attributes). */
interface Skip {
  keepTimestamp: boolean;
  useTraceFields: boolean;
  usedStack: boolean;
  usedCause: boolean;
  usedKey: string | undefined;
  extraSplat: unknown[] | undefined;
}

/**
 * InfoMapper maps info objects onto RecordFields. One mapper per transport;
 * map() reuses internal state and must not be re-entered (it never is).
 */
export class InfoMapper {
  readonly severity: SeverityMapper;
  private readonly writer: JsonWriter;
  private readonly limits: JsonLimits;
  private readonly clock = new Clock();
  private readonly otel: boolean;

  constructor(opts: MapperOptions) {
    this.severity = new SeverityMapper(opts.severities);
    this.limits = opts.limits;
    this.writer = new JsonWriter(opts.limits);
    this.otel = opts.otel;
  }

  /** map fills out from info. It never throws for any info value. */
  map(info: Info, out: RecordFields): void {
    const now = this.clock.nowNs();
    out.observedTimeUnixNano = now;

    // Level.
    let level = info[LEVEL];
    if (typeof level !== "string") {
      level = typeof info.level === "string" ? info.level.replace(ANSI, "") : "";
    }
    const levelName = level as string;
    out.severityNumber = levelName === "" ? 9 : this.severity.severity(levelName);
    out.severityText = cutUtf8(levelName, MAX_SEVERITY_TEXT_BYTES);

    // Message.
    const message = info.message;
    if (typeof message === "string") out.body = cutUtf8(message, MAX_BODY_BYTES);
    else if (message === undefined || message === null) out.body = "";
    else out.body = cutUtf8(this.writer.valueText(message, MAX_BODY_BYTES / 3), MAX_BODY_BYTES);

    // Time.
    let keepTimestamp = false;
    const ts = info.timestamp;
    out.timeUnixNano = now;
    if (ts !== undefined) {
      const parsed = parseTimestamp(ts);
      if (parsed !== undefined && inRange(parsed, now)) out.timeUnixNano = parsed;
      else keepTimestamp = true;
    }

    // Logger name.
    const label = info.label;
    out.logger = label === undefined || label === null ? "" : cutUtf8(typeof label === "string" ? label : safeString(label), MAX_LOGGER_BYTES);

    // Trace context.
    let useTraceFields = false;
    const traceHex = info.trace_id ?? info.traceId;
    const spanHex = info.span_id ?? info.spanId;
    out.traceId = "";
    out.spanId = "";
    if (validHexId(traceHex, 16)) {
      out.traceId = traceHex;
      out.spanId = validHexId(spanHex, 8) ? spanHex : "";
      useTraceFields = true;
    } else if (this.otel) {
      const sc = activeSpan();
      if (sc !== undefined && validHexId(sc.traceId, 16)) {
        out.traceId = sc.traceId;
        out.spanId = validHexId(sc.spanId, 8) ? sc.spanId : "";
      }
    }

    // Error.
    out.errorType = "";
    out.errorMessage = "";
    out.errorStack = "";
    let usedStack = false;
    let usedCause = false;
    let usedKey: string | undefined;
    const splat = info[SPLAT];
    let err: Error | undefined;
    if (info instanceof Error) err = info;
    else if (message instanceof Error) err = message;
    let splatError: Error | undefined;
    if (err === undefined && Array.isArray(splat)) {
      for (const a of splat) {
        if (a instanceof Error) {
          splatError = a;
          break;
        }
      }
      err = splatError;
    }
    if (err === undefined) {
      if (info.error instanceof Error) {
        err = info.error;
        usedKey = "error";
      } else if (info.err instanceof Error) {
        err = info.err;
        usedKey = "err";
      }
    }
    if (err !== undefined) {
      this.fillError(err, out);
      // winston copies stack/cause of a meta Error into info; they are in the record's error now.
      usedStack = typeof info.stack === "string";
      usedCause = info.cause !== undefined && (info.cause === (err as { cause?: unknown }).cause || (info as unknown) === err);
    } else if (typeof info.stack === "string" && info.stack !== "") {
      // format.errors() turned an Error into { message, stack, cause }.
      const stack = info.stack;
      out.errorType = errorTypeFromStack(stack);
      out.errorMessage = truncateString(typeof message === "string" ? message : out.body, MAX_ERROR_MESSAGE_CHARS);
      out.errorStack = truncateString(stackWithCauses(stack, info.cause), MAX_ERROR_STACK_CHARS);
      usedStack = true;
      usedCause = info.cause !== undefined;
    }

    // Attributes.
    let extraSplat: unknown[] | undefined;
    if (Array.isArray(splat) && splat.length > 0 && typeof message === "string" && FORMAT_TOKENS.test(message)) {
      // Splat arguments nobody interpolated (no format.splat()): keep them.
      const rest = splatError === undefined ? splat : splat.filter((a) => a !== splatError);
      if (rest.length > 0) extraSplat = rest;
    }
    const skip: Skip = { keepTimestamp, useTraceFields, usedStack, usedCause, usedKey, extraSplat };
    out.attributesJson = this.attributes(info, skip);
  }

  // attributes writes the attribute document, within maxBytes of UTF-8: the
  // writer counts UTF-16 code units, so text outside ASCII may need a second,
  // tighter pass.
  private attributes(info: Info, skip: Skip): string {
    const max = this.limits.maxBytes;
    let doc = this.writeAttributes(info, skip, max);
    if (doc.length * 3 <= max) return doc;
    let bytes = Buffer.byteLength(doc, "utf8");
    let budget = doc.length;
    for (let round = 0; bytes > max && round < 4; round++) {
      budget = Math.floor((budget * max) / bytes) - 256;
      if (budget < 512) break;
      doc = this.writeAttributes(info, skip, budget);
      bytes = Buffer.byteLength(doc, "utf8");
    }
    if (bytes > max) return `{"_truncated":${JSON.stringify(`attributes too large${TRUNCATED}`)}}`;
    return doc;
  }

  private writeAttributes(info: Info, skip: Skip, budget: number): string {
    const w = this.writer;
    w.begin(budget);
    for (const k in info) {
      if (!Object.hasOwn(info, k)) continue;
      switch (k) {
        case "level":
        case "message":
        case "label":
          continue;
        case "timestamp":
          if (!skip.keepTimestamp) continue;
          break;
        case "trace_id":
        case "span_id":
        case "traceId":
        case "spanId":
        case "trace_flags":
        case "traceFlags":
          if (skip.useTraceFields) continue;
          break;
        case "stack":
          if (skip.usedStack) continue;
          break;
        case "cause":
          if (skip.usedCause) continue;
          break;
        default:
          if (k === skip.usedKey) continue;
      }
      let v: unknown;
      try {
        v = info[k];
      } catch (e) {
        v = `[Unserializable: ${e instanceof Error ? e.message : "getter threw"}]`;
      }
      w.field(k, v);
    }
    if (skip.extraSplat !== undefined) w.field("splat", skip.extraSplat);
    return w.end();
  }

  private fillError(err: Error, out: RecordFields): void {
    let msg: string;
    let stack: string;
    try {
      msg = safeString(err.message);
      stack = typeof err.stack === "string" ? err.stack : `${errorType(err)}: ${msg}`;
      stack = stackWithCauses(stack, (err as { cause?: unknown }).cause, (err as { errors?: unknown }).errors);
    } catch {
      msg = "[unreadable error]";
      stack = "";
    }
    out.errorType = truncateString(errorType(err), 256);
    out.errorMessage = truncateString(msg, MAX_ERROR_MESSAGE_CHARS);
    out.errorStack = truncateString(stack, MAX_ERROR_STACK_CHARS);
  }
}
