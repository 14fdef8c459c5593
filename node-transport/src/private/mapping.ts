// Mapping of winston info objects onto sawmill.v1.LogRecord fields.
//
//   level        -> severity_number (SeverityMapper) and severity_text (the
//                   uncolored info[LEVEL], else info.level without ANSI codes)
//   message      -> body (non-strings as JSON text), at most 64 KiB
//   timestamp    -> time_unix_nano when it is unambiguous (parseTimestamp:
//                   ISO 8601 / RFC 3339, RFC 2822 with a zone, unix ms, Date)
//                   and lies in the range the server accepts (2000-01-01 ..
//                   now + 24 h); otherwise (never guessed) the original value
//                   is kept as the attribute "timestamp" and the time is the
//                   moment of logging
//   label        -> logger
//   trace_id/span_id (or traceId/spanId) -> trace_id/span_id; else the active
//                   OpenTelemetry span, when @opentelemetry/api is installed
//   an Error (the info itself, one passed as a splat argument, an Error under
//   "error"/"err", or info.stack from format.errors, a string or nest-winston's
//   [trace]) -> error {type, message, stack with its "Caused by:" chain}; the
//                   Error's own fields stay attributes (under "err"/"error"
//                   for one found there: errorProps)
//   everything else (defaultMeta, child metadata, merged splat objects)
//                -> attributes_json, by the rules in json.ts; splat arguments
//                   no format interpolated are kept as the attribute "splat".

import { JsonWriter, TRUNCATED, errorProps, errorType, truncateString, type JsonLimits } from "./json.js";
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
  /^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))? ?(Z|z|[+-]\d\d(?::?\d\d)?)?$/;
const RFC2822 =
  /^(?:[A-Za-z]{3}, ?)?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d\d):(\d\d)(?::(\d\d))? (GMT|UTC|UT|Z|[+-]\d{4})$/;


const TRUNCATED_BYTES = Buffer.byteLength(TRUNCATED, "utf8");

/** utf8Prefix returns how many UTF-16 code units of s fit in maxBytes of UTF-8, never splitting a surrogate pair (a lone surrogate counts 3 bytes: it is written as U+FFFD). */
function utf8Prefix(s: string, maxBytes: number): number {
  let bytes = 0;
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    let n = 3;
    let units = 1;
    if (c < 0x80) n = 1;
    else if (c < 0x800) n = 2;
    else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n = 4;
      units = 2;
    }
    if (bytes + n > maxBytes) break;
    bytes += n;
    i += units;
  }
  return i;
}

/**
 * cutUtf8 returns s when it fits in maxBytes of UTF-8, else its longest
 * prefix that fits with the marker appended: cut by bytes at a code point
 * boundary, so the result is as long as the limit allows. The work is
 * bounded by maxBytes, whatever the length of s.
 */
export function cutUtf8(s: string, maxBytes: number): string {
  if (s.length * 3 <= maxBytes) return s;
  if (s.length <= maxBytes && Buffer.byteLength(s, "utf8") <= maxBytes) return s;
  return s.slice(0, utf8Prefix(s, Math.max(0, maxBytes - TRUNCATED_BYTES))) + TRUNCATED;
}

const MONTHS: Readonly<Record<string, number>> = {
  jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11,
};

/**
 * utcMs returns Date.UTC of the fields, or undefined when a field is out of
 * range (Date.UTC would roll month 13 or day 31 of April over silently).
 */
function utcMs(y: number, mo: number, d: number, h: number, mi: number, sec: number): number | undefined {
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return undefined;
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec);
  if (new Date(ms).getUTCDate() !== d) return undefined; // 31 April, 29 February of a common year
  return ms;
}

/** localMs is utcMs for fields in the process's local time zone (how winston's format.timestamp renders a pattern without zone). */
function localMs(y: number, mo: number, d: number, h: number, mi: number, sec: number): number | undefined {
  if (utcMs(y, mo, d, h, mi, sec) === undefined) return undefined;
  const t = new Date(y, mo - 1, d, h, mi, sec);
  // A wall time skipped by a daylight-saving jump does not exist: do not guess.
  if (t.getHours() !== h || t.getMinutes() !== mi) return undefined;
  return t.getTime();
}

/**
 * parseTimestamp returns unix nanoseconds for a timestamp value, or undefined
 * when the value is not one of the unambiguous forms:
 *   - ISO 8601 / RFC 3339 text, "2026-11-01T10:20:30.123456789Z", with "Z"
 *     or an offset (+02:00, +0200, +02; a space before it allowed, as
 *     format.timestamp({ format: "YYYY-MM-DD HH:mm:ss ZZ" }) writes it), "T" or a space between date and
 *     time, up to 9 fraction digits; without a zone it is the process's local
 *     time (what format.timestamp({ format: "YYYY-MM-DD HH:mm:ss" }) writes);
 *   - RFC 7231 / RFC 2822 text with a zone, "Wed, 02 Dec 2026 05:00:00 GMT"
 *     (Date.prototype.toUTCString);
 *   - a number: unix milliseconds; a Date.
 * Nothing else is guessed at (Date.parse reads "02/12/2026" as February 12th).
 */
export function parseTimestamp(v: unknown): bigint | undefined {
  let ms: number;
  if (typeof v === "string") {
    return parseTimestampText(v);
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

function parseTimestampText(v: string): bigint | undefined {
  const m = ISO.exec(v);
  if (m !== null) {
    const f = [+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!] as const;
    const tz = m[8];
    let base: number | undefined;
    if (tz === undefined) {
      base = localMs(...f);
    } else {
      base = utcMs(...f);
      if (base !== undefined && tz !== "Z" && tz !== "z") {
        const sign = tz[0] === "-" ? -1 : 1;
        const digits = tz.slice(1).replace(":", "");
        const oh = +digits.slice(0, 2);
        const om = +(digits.slice(2, 4) || "0");
        if (oh > 23 || om > 59) return undefined;
        base -= sign * (oh * 60 + om) * 60_000;
      }
    }
    if (base === undefined) return undefined;
    const frac = m[7] ?? "";
    const fracNs = frac === "" ? 0n : BigInt(frac.padEnd(9, "0"));
    return BigInt(base) * 1_000_000n + fracNs;
  }
  const r = RFC2822.exec(v);
  if (r !== null) {
    const mo = MONTHS[r[2]!.toLowerCase()];
    if (mo === undefined) return undefined;
    let base = utcMs(+r[3]!, mo + 1, +r[1]!, +r[4]!, +r[5]!, +(r[6] ?? "0"));
    if (base === undefined) return undefined;
    const tz = r[7]!;
    if (tz[0] === "+" || tz[0] === "-") {
      const oh = +tz.slice(1, 3);
      const om = +tz.slice(3, 5);
      if (oh > 23 || om > 59) return undefined;
      base -= (tz[0] === "-" ? -1 : 1) * (oh * 60 + om) * 60_000;
    }
    return BigInt(base) * 1_000_000n;
  }
  return undefined;
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

/**
 * stackString returns the stack text of info.stack: a string (format.errors),
 * or the first string of an array (nest-winston sends [trace]); else undefined.
 */
function stackString(v: unknown): string | undefined {
  if (typeof v === "string") return v === "" ? undefined : v;
  if (Array.isArray(v)) {
    for (const x of v as unknown[]) if (typeof x === "string" && x !== "") return x;
  }
  return undefined;
}

/** errorMessageFromStack reads "boom" out of "TypeError: boom\n    at ...", or undefined when the stack does not start with "<type>: ". */
function errorMessageFromStack(stack: string, type: string): string | undefined {
  if (!stack.startsWith(`${type}: `)) return undefined;
  const rest = stack.slice(type.length + 2);
  const at = /\n\s+at /.exec(rest);
  return at === null ? rest : rest.slice(0, at.index);
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
  /** What the record's Error carries besides type, message and stack, and the key it goes under. */
  errorFields: Record<string, unknown> | undefined;
  errorFieldsKey: string | undefined;
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
    let errorFields: Record<string, unknown> | undefined;
    let errorFieldsKey: string | undefined;
    const stackText = stackString(info.stack);
    if (err !== undefined) {
      this.fillError(err, out);
      // winston copies stack/cause of a meta Error into info; they are in the
      // record's error now. nest-winston passes the stack again as [stack].
      usedStack = info.stack !== undefined && (typeof info.stack === "string" || stackText === undefined || stackText === err.stack);
      usedCause = info.cause !== undefined && (info.cause === (err as { cause?: unknown }).cause || (info as unknown) === err);
      // The Error's own fields (code, errno, syscall, ...): an Error logged
      // directly or as a meta argument has them in info already (winston
      // merges them); one under "error"/"err" or in info.message keeps them
      // under that key.
      if (usedKey !== undefined || (err === message && !Object.hasOwn(info, "error"))) {
        errorFields = errorProps(err);
        errorFieldsKey = usedKey ?? "error";
        // nest-winston spreads them into info as well: once is enough.
        if (errorFields !== undefined && Object.keys(errorFields).every((k) => Object.hasOwn(info, k) && info[k] === errorFields![k])) {
          errorFields = undefined;
        }
      }
    } else if (stackText !== undefined) {
      // format.errors() turned an Error into { message, stack, cause };
      // nest-winston's logger.error(message, trace) sends { stack: [trace] }.
      out.errorType = errorTypeFromStack(stackText);
      out.errorMessage = truncateString(errorMessageFromStack(stackText, out.errorType) ?? (typeof message === "string" ? message : out.body), MAX_ERROR_MESSAGE_CHARS);
      out.errorStack = truncateString(stackWithCauses(stackText, info.cause), MAX_ERROR_STACK_CHARS);
      usedStack = true;
      usedCause = info.cause !== undefined;
    } else if (Array.isArray(info.stack) && info.stack.every((x) => x === undefined || x === null)) {
      // nest-winston's logger.error(message) without a trace: { stack: [undefined] } says nothing.
      usedStack = true;
    }

    // Attributes.
    let extraSplat: unknown[] | undefined;
    if (Array.isArray(splat) && splat.length > 0 && typeof message === "string" && FORMAT_TOKENS.test(message)) {
      // Splat arguments nobody interpolated (no format.splat()): keep them.
      const rest = splatError === undefined ? splat : splat.filter((a) => a !== splatError);
      if (rest.length > 0) extraSplat = rest;
    }
    const skip: Skip = { keepTimestamp, useTraceFields, usedStack, usedCause, usedKey, extraSplat, errorFields, errorFieldsKey };
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
          if (k === skip.usedKey) {
            if (skip.errorFields !== undefined) w.field(k, skip.errorFields);
            continue;
          }
      }
      let v: unknown;
      try {
        v = info[k];
      } catch (e) {
        v = `[Unserializable: ${e instanceof Error ? e.message : "getter threw"}]`;
      }
      w.field(k, v);
    }
    if (skip.errorFields !== undefined && skip.usedKey === undefined && skip.errorFieldsKey !== undefined) {
      w.field(skip.errorFieldsKey, skip.errorFields);
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
