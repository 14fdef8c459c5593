// Request identity: the request id (X-Request-Id, or a fresh one) and the
// W3C trace context (traceparent: the trace id shared by every service a
// request crosses, and a span id of this service's own). A service that
// runs OpenTelemetry gets this from its SDK instead, and winston-sawmill
// reads the active span by itself.
import { randomBytes } from "node:crypto";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const REQUEST_ID = /^[\x21-\x7e]{1,64}$/;

/**
 * @param {number} bytes
 * @returns {string} lower-case hex, never all zero
 */
function newId(bytes) {
  for (;;) {
    const id = randomBytes(bytes).toString("hex");
    if (!/^0+$/.test(id)) return id;
  }
}

/**
 * parseTraceParent reads a version-00 traceparent header.
 * @param {string | undefined} value
 * @returns {{ traceId: string, sampled: boolean } | undefined}
 */
export function parseTraceParent(value) {
  const m = TRACEPARENT.exec((value ?? "").trim());
  if (m === null || /^0+$/.test(m[1] ?? "") || /^0+$/.test(m[2] ?? "")) return undefined;
  return { traceId: m[1] ?? "", sampled: (parseInt(m[3] ?? "0", 16) & 1) === 1 };
}

/**
 * @typedef {{ requestId: string, traceId: string, spanId: string, sampled: boolean }} RequestInfo
 */

/**
 * fromHeaders reads the request id and trace context and opens a new span.
 * @param {import("node:http").IncomingHttpHeaders} headers
 * @returns {RequestInfo}
 */
export function fromHeaders(headers) {
  const rid = headers["x-request-id"];
  const requestId = typeof rid === "string" && REQUEST_ID.test(rid) ? rid : newId(8);
  const tp = headers.traceparent;
  const parent = parseTraceParent(typeof tp === "string" ? tp : undefined);
  return {
    requestId,
    traceId: parent?.traceId ?? newId(16),
    spanId: newId(8),
    sampled: parent?.sampled ?? true,
  };
}
