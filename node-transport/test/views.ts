// Conversions of what arrived (decoded protobuf, or stored entries as JSON)
// into the RecordView shape the mapping cases check.
import type { LogRecord } from "../src/gen/sawmill/v1/log_pb.js";
import type { RecordView } from "./cases.js";

export function viewOfRecord(r: LogRecord): RecordView {
  const raw = Buffer.from(r.attributesJson).toString("utf8");
  return {
    severityNumber: r.severityNumber,
    severityText: r.severityText,
    body: r.body,
    attributesRaw: raw,
    attributes: raw === "" ? {} : (JSON.parse(raw) as Record<string, unknown>),
    timeUnixNano: r.timeUnixNano,
    logger: r.logger,
    traceId: Buffer.from(r.traceId).toString("hex"),
    spanId: Buffer.from(r.spanId).toString("hex"),
    error: r.error === undefined ? undefined : { type: r.error.type, message: r.error.message, stack: r.error.stack },
  };
}

/** rawMember returns the verbatim JSON text of the value of "key" in the object starting at text[from]. */
export function rawMember(text: string, from: number, key: string): string | undefined {
  const needle = `"${key}":`;
  // Scan the object at `from`, depth 1 members only.
  let depth = 0;
  let inString = false;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      if (depth === 1 && text.startsWith(needle, i)) return valueAt(text, i + needle.length);
      inString = true;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return undefined;
    }
  }
  return undefined;
}

function valueAt(text: string, start: number): string {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') {
        inString = false;
        if (depth === 0) return text.slice(start, i + 1);
      }
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      if (depth === 0) return text.slice(start, i);
      depth--;
      if (depth === 0) return text.slice(start, i + 1);
    } else if (c === "," && depth === 0) return text.slice(start, i);
  }
  return text.slice(start);
}

/** objectStarts returns the offsets of the entries of the "logs" array of a /api/v1/logs answer. */
export function entryStarts(text: string): number[] {
  const at = text.indexOf('"logs":[');
  if (at < 0) return [];
  const starts: number[] = [];
  let depth = 0;
  let inString = false;
  for (let i = at + 8; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{") {
      if (depth === 0) starts.push(i);
      depth++;
    } else if (c === "}") depth--;
    else if (c === "[") depth++;
    else if (c === "]") {
      if (depth === 0) break;
      depth--;
    }
  }
  return starts;
}

interface Entry {
  severity_number?: number;
  severity_text?: string;
  body?: string;
  attributes?: Record<string, unknown>;
  time_unix_nano?: string;
  logger?: string;
  trace_id?: string;
  span_id?: string;
  error?: { type?: string; message?: string; stack?: string };
}

/** viewsOfLogsResponse converts a GET /api/v1/logs answer, keeping each entry's attributes verbatim. */
export function viewsOfLogsResponse(text: string): RecordView[] {
  const parsed = JSON.parse(text) as { logs?: Entry[] };
  const entries = parsed.logs ?? [];
  const starts = entryStarts(text);
  if (starts.length !== entries.length) throw new Error(`found ${starts.length} entry objects, parsed ${entries.length}`);
  return entries.map((e, i) => ({
    severityNumber: e.severity_number ?? 0,
    severityText: e.severity_text ?? "",
    body: e.body ?? "",
    attributesRaw: rawMember(text, starts[i]!, "attributes") ?? "",
    attributes: e.attributes ?? {},
    timeUnixNano: BigInt(e.time_unix_nano ?? "0"),
    logger: e.logger ?? "",
    traceId: e.trace_id ?? "",
    spanId: e.span_id ?? "",
    error: e.error === undefined ? undefined : { type: e.error.type ?? "", message: e.error.message ?? "", stack: e.error.stack ?? "" },
  }));
}
