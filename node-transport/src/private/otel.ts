// Optional OpenTelemetry integration: when the application has
// @opentelemetry/api installed, the active span's trace and span ids are
// attached to each record. The package is loaded lazily with import(), so it
// stays an optional peer dependency: without it, nothing happens.

/** The part of @opentelemetry/api this package uses. */
interface OtelApi {
  context: { active(): unknown };
  trace: { getSpanContext(ctx: unknown): { traceId: string; spanId: string } | undefined };
}

let api: OtelApi | null | undefined;
let loading: Promise<void> | undefined;

// A variable specifier keeps TypeScript from resolving (and the declaration
// output from referencing) the optional package.
const OTEL_API = "@opentelemetry/api";

/** loadOtel starts loading @opentelemetry/api once; it never rejects. */
export function loadOtel(): Promise<void> {
  if (loading === undefined) {
    loading = import(OTEL_API).then(
      (m: unknown) => {
        const mod = ((m as { default?: unknown }).default ?? m) as Partial<OtelApi>;
        const ok =
          typeof mod.context?.active === "function" && typeof mod.trace?.getSpanContext === "function";
        api = ok ? (mod as OtelApi) : null;
      },
      () => {
        api = null;
      },
    );
  }
  return loading;
}

/** otelLoaded reports whether @opentelemetry/api was found (undefined while loading). */
export function otelLoaded(): boolean | undefined {
  return api === undefined ? undefined : api !== null;
}

const ZERO_TRACE = "00000000000000000000000000000000";
const ZERO_SPAN = "0000000000000000";

/** activeSpan returns the active span's ids as hex, or undefined. Never throws. */
export function activeSpan(): { traceId: string; spanId: string } | undefined {
  if (api === undefined || api === null) return undefined;
  try {
    const sc = api.trace.getSpanContext(api.context.active());
    if (sc === undefined || sc.traceId === ZERO_TRACE || sc.spanId === ZERO_SPAN) return undefined;
    return sc;
  } catch {
    return undefined;
  }
}

const scratch = Buffer.allocUnsafe(16);

/**
 * validHexId reports whether v is an id of n bytes as 2n hex digits, not all
 * zero (W3C trace context: all-zero ids are invalid). It allocates nothing.
 */
export function validHexId(v: unknown, n: 8 | 16): v is string {
  if (typeof v !== "string" || v.length !== 2 * n) return false;
  if (v === (n === 16 ? ZERO_TRACE : ZERO_SPAN)) return false;
  // Buffer's hex decoder stops at the first non-hex pair.
  return scratch.write(v, 0, n, "hex") === n;
}
