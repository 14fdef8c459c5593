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
const HEX32 = /^[0-9a-fA-F]{32}$/;
const HEX16 = /^[0-9a-fA-F]{16}$/;

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

/** HexIds converts hex ids to bytes, remembering the last conversion (records of one span repeat it). */
export class HexIds {
  private lastTraceHex = "";
  private lastTrace: Uint8Array | undefined;
  private lastSpanHex = "";
  private lastSpan: Uint8Array | undefined;

  /** trace returns 16 bytes for a 32-digit hex id, else undefined. */
  trace(hex: unknown): Uint8Array | undefined {
    if (typeof hex !== "string") return undefined;
    if (hex === this.lastTraceHex) return this.lastTrace;
    if (!HEX32.test(hex) || hex === ZERO_TRACE) return undefined;
    this.lastTraceHex = hex;
    this.lastTrace = Buffer.from(hex, "hex");
    return this.lastTrace;
  }

  /** span returns 8 bytes for a 16-digit hex id, else undefined. */
  span(hex: unknown): Uint8Array | undefined {
    if (typeof hex !== "string") return undefined;
    if (hex === this.lastSpanHex) return this.lastSpan;
    if (!HEX16.test(hex) || hex === ZERO_SPAN) return undefined;
    this.lastSpanHex = hex;
    this.lastSpan = Buffer.from(hex, "hex");
    return this.lastSpan;
  }
}
