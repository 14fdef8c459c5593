import { hostname } from "node:os";
// import = require, not a default import: the emitted declarations then
// type-check for consumers with and without esModuleInterop (a default import
// of winston-transport's `export =` is TS1259 without it), and the ESM build
// loads the CommonJS module through createRequire.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
import TransportStream = require("winston-transport");
import { DEFAULT_LIMITS, JsonWriter } from "./private/json.js";
import { InfoMapper } from "./private/mapping.js";
import { loadOtel } from "./private/otel.js";
import { Pipeline, type ProblemReport, type Sender } from "./private/pipeline.js";
import { GrpcSender, type TlsOptions } from "./private/grpc.js";
import { encodeResource, newRecordFields, type RecordFields } from "./private/wire.js";

export type { TlsOptions } from "./private/grpc.js";

/** What happens to a log when the buffer is full. */
export type OnFullPolicy = "drop-newest" | "drop-oldest";

/** Options of SawmillTransport; winston's own transport options (level, format, silent, ...) apply too. */
export interface SawmillTransportOptions extends TransportStream.TransportStreamOptions {
  /** The sawmill gRPC address: "host:port", "http://host:port" or "https://host:port". Default "127.0.0.1:7070". */
  endpoint?: string | undefined;
  /** Service name (required): 1-128 bytes of UTF-8 without control characters. */
  service: string;
  /** Instance name. Default: the host name. */
  instance?: string | undefined;
  /** Deployment environment, e.g. "production". */
  environment?: string | undefined;
  /** Version of the service, e.g. "1.4.2". */
  version?: string | undefined;
  /** Extra resource attributes, sent once per batch. */
  resourceAttributes?: Record<string, unknown> | undefined;
  /** Bearer token sent as "authorization: Bearer <token>". */
  token?: string | undefined;
  /** TLS: true for the system roots, an object for custom roots or mutual TLS. Default: only for https:// endpoints. */
  tls?: boolean | TlsOptions | undefined;
  /** Most records per batch (1-10000). Default 1000. */
  batchSize?: number | undefined;
  /** Most encoded bytes per batch (64 KiB - 8 MiB). Default 4 MiB. */
  maxBatchBytes?: number | undefined;
  /** Longest a record waits before its batch is sent, in ms. Default 500. */
  flushIntervalMs?: number | undefined;
  /** Most bytes buffered in memory (unsent and in flight). Default 64 MiB. */
  maxBufferBytes?: number | undefined;
  /** What to drop when the buffer is full. Default "drop-newest". */
  onFull?: OnFullPolicy | undefined;
  /** Most batches in flight at once. Default 2. */
  maxInFlight?: number | undefined;
  /** How often a batch is retried after a retryable failure before it is dropped. Default Infinity (until acked or closed). */
  maxRetries?: number | undefined;
  /** Retry backoff: initial and maximum delay in ms (exponential, ±25% jitter). Default { initialMs: 100, maxMs: 5000 }. */
  backoff?: { initialMs?: number | undefined; maxMs?: number | undefined } | undefined;
  /** Deadline of one push request, in ms. Default 10000. */
  timeoutMs?: number | undefined;
  /** Default timeout of flush() and close(), in ms. Default 10000. */
  flushTimeoutMs?: number | undefined;
  /** Called for every problem the transport reports (also emitted as 'warn'). Never throws into the transport. */
  onError?: ((err: SawmillError) => void) | undefined;
  /** Opt-in: flush on 'beforeExit', and on SIGTERM/SIGINT flush until nothing is left, then re-raise the signal unless the application listens for it too. Default false. */
  exitHook?: boolean | undefined;
  /** Severity numbers (1-24) for custom level names, e.g. { fatal: 21, trace: 1 }. */
  severities?: Record<string, number> | undefined;
  /** Attach the active OpenTelemetry span (when @opentelemetry/api is installed). Default true. */
  otel?: boolean | undefined;
  /** Longest string attribute value in characters before it is truncated. Default 8192. */
  maxAttributeValueLength?: number | undefined;
  /** Minimum time between two reports of the same kind (buffer full, server unavailable), in ms. Default 10000. */
  reportIntervalMs?: number | undefined;
}

/** Kinds of problems the transport reports. */
export type SawmillErrorCode = ProblemReport["code"];

/** A problem the transport reports through 'warn' events and onError; never thrown. */
export class SawmillError extends Error {
  override readonly name = "SawmillError";
  /** What went wrong. */
  readonly code: SawmillErrorCode;
  /** How many logs it concerns. */
  readonly records: number;
  /** The gRPC status code, when the problem came from the network. */
  readonly grpcCode: number | undefined;

  constructor(p: ProblemReport) {
    super(`winston-sawmill: ${p.message}`);
    this.code = p.code;
    this.records = p.records;
    this.grpcCode = p.grpcCode;
  }
}

/** Counters of a transport, since it was created. */
export interface SawmillStats {
  /** Records accepted into the buffer. */
  buffered: number;
  /** Records acknowledged by the server (durable). */
  acked: number;
  /** Acknowledged records of batches the server had already stored (a retry after a lost answer). */
  duplicates: number;
  /** Records dropped because the buffer was full. */
  droppedFull: number;
  /** Records the server rejected (invalid batch, bad token). */
  droppedRejected: number;
  /** Records of batches dropped after maxRetries. */
  droppedRetries: number;
  /** Records still buffered when close() gave up, or logged after close(). */
  droppedClosed: number;
  /** Records that could not be mapped at all (should stay 0). */
  droppedInvalid: number;
  /** Failed push attempts that were retried. */
  retries: number;
  /** Batches acknowledged. */
  batches: number;
  /** Records buffered and not yet settled. */
  pending: number;
  /** Bytes buffered (encoded records, unsent and in flight). */
  bufferedBytes: number;
}

// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const SERVICE_RE = /^[^\u0000-\u001f\u007f]+$/;

function positive(name: string, v: number | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (typeof v !== "number" || Number.isNaN(v) || v < min || v > max) {
    throw new RangeError(`winston-sawmill: option ${name} must be a number in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

/**
 * SawmillTransport sends winston logs to a Sawmill server over gRPC.
 *
 * log() maps and encodes the record, buffers it and calls winston back at
 * once; batches go out in the background. flush() and close() resolve when
 * the server has acknowledged (made durable) everything logged before them,
 * or when their timeout passes. Problems never throw and never emit 'error':
 * they are 'warn' events and onError calls carrying a SawmillError.
 */
export class SawmillTransport extends TransportStream {
  /** The transport's name, as winston lists it. */
  readonly name = "sawmill";
  private readonly mapper: InfoMapper;
  private readonly pipeline: Pipeline;
  private readonly record: RecordFields = newRecordFields();
  private readonly onError: ((err: SawmillError) => void) | undefined;
  private readonly flushTimeoutMs: number;
  private droppedInvalid = 0;
  private closing: Promise<boolean> | undefined;
  private readonly exitHooks: (() => void)[] = [];

  constructor(opts: SawmillTransportOptions, sender?: Sender) {
    super(opts);
    if (opts === null || typeof opts !== "object") {
      throw new TypeError("winston-sawmill: options are required ({ service: 'name', ... })");
    }
    const service = opts.service;
    if (typeof service !== "string" || service === "" || Buffer.byteLength(service) > 128 || !SERVICE_RE.test(service)) {
      throw new TypeError(
        `winston-sawmill: option service must be 1-128 bytes without control characters, got ${JSON.stringify(service)}`,
      );
    }
    for (const key of ["instance", "environment", "version"] as const) {
      const v = opts[key];
      if (v !== undefined && (typeof v !== "string" || Buffer.byteLength(v) > 256)) {
        throw new TypeError(`winston-sawmill: option ${key} must be a string of at most 256 bytes`);
      }
    }
    const onFull = opts.onFull ?? "drop-newest";
    if (onFull !== "drop-newest" && onFull !== "drop-oldest") {
      throw new TypeError(`winston-sawmill: option onFull must be "drop-newest" or "drop-oldest", got ${JSON.stringify(onFull)}`);
    }
    const batchSize = positive("batchSize", opts.batchSize, 1000, 1, 10_000);
    const maxBatchBytes = positive("maxBatchBytes", opts.maxBatchBytes, 4 * 1024 * 1024, 64 * 1024, 8 * 1024 * 1024);
    const flushIntervalMs = positive("flushIntervalMs", opts.flushIntervalMs, 500, 1, 3_600_000);
    const maxBufferBytes = positive("maxBufferBytes", opts.maxBufferBytes, 64 * 1024 * 1024, maxBatchBytes, Number.MAX_SAFE_INTEGER);
    const maxInFlight = positive("maxInFlight", opts.maxInFlight, 2, 1, 64);
    const maxRetries = positive("maxRetries", opts.maxRetries, Infinity, 0, Infinity);
    const backoffInitialMs = positive("backoff.initialMs", opts.backoff?.initialMs, 100, 1, 3_600_000);
    const backoffMaxMs = positive("backoff.maxMs", opts.backoff?.maxMs, 5000, backoffInitialMs, 3_600_000);
    const timeoutMs = positive("timeoutMs", opts.timeoutMs, 10_000, 1, 3_600_000);
    this.flushTimeoutMs = positive("flushTimeoutMs", opts.flushTimeoutMs, 10_000, 0, 3_600_000);
    const reportIntervalMs = positive("reportIntervalMs", opts.reportIntervalMs, 10_000, 0, 3_600_000);
    const maxValue = positive("maxAttributeValueLength", opts.maxAttributeValueLength, DEFAULT_LIMITS.maxStringLength, 64, DEFAULT_LIMITS.maxBytes);
    this.onError = opts.onError;

    const limits = { ...DEFAULT_LIMITS, maxStringLength: maxValue };
    let resourceAttrs = "";
    if (opts.resourceAttributes !== undefined) {
      const w = new JsonWriter(limits);
      w.begin();
      for (const [k, v] of Object.entries(opts.resourceAttributes)) w.field(k, v);
      resourceAttrs = w.end();
    }
    const resource = encodeResource({
      service,
      instance: opts.instance ?? hostname().slice(0, 256),
      environment: opts.environment,
      version: opts.version,
      attributesJson: resourceAttrs,
    });

    const otel = opts.otel ?? true;
    if (otel) void loadOtel();
    this.mapper = new InfoMapper({ severities: opts.severities, limits, otel });
    this.pipeline = new Pipeline(
      {
        resource,
        batchSize,
        maxBatchBytes,
        flushIntervalMs,
        maxBufferBytes,
        onFull,
        maxInFlight,
        maxRetries,
        backoffInitialMs,
        backoffMaxMs,
        timeoutMs,
        reportIntervalMs,
      },
      sender ??
        new GrpcSender({
          endpoint: opts.endpoint ?? "127.0.0.1:7070",
          tls: opts.tls,
          token: opts.token,
          maxReconnectBackoffMs: Math.min(backoffMaxMs, 10_000),
        }),
      (p) => this.problem(p),
    );
    if (opts.exitHook === true) this.installExitHooks();
  }

  /** log maps, encodes and buffers one record; it never throws and calls next at once. */
  override log(info: Record<string | symbol, unknown>, next?: () => void): boolean {
    try {
      if (!this.pipeline.dropIfFull()) {
        const levels = (this as unknown as { levels?: Record<string, number> }).levels;
        this.mapper.severity.setLevels(levels);
        this.mapper.map(info, this.record);
        this.pipeline.append(this.record);
        // winston gives a transport at most 3 s after an uncaught exception or
        // unhandled rejection before it exits: send it now, not at the interval.
        if (info.exception === true || info.rejection === true) this.pipeline.seal();
      }
    } catch (e) {
      this.droppedInvalid++;
      this.problem({
        code: "REJECTED",
        message: `log could not be encoded and was dropped: ${e instanceof Error ? e.message : String(e)}`,
        records: 1,
      });
    }
    try {
      this.emit("logged", info);
    } catch {
      // A throwing 'logged' listener is not ours to surface through winston.
    }
    if (typeof next === "function") next();
    return true;
  }

  /**
   * flush sends everything buffered and resolves true when the server has
   * acknowledged every log passed to log() before the call (or they were
   * dropped and counted), false when timeoutMs passes first. Never rejects.
   */
  flush(timeoutMs: number = this.flushTimeoutMs): Promise<boolean> {
    return this.pipeline.flush(timeoutMs).catch(() => false);
  }

  /**
   * close flushes (up to timeoutMs) until nothing is left, including logs
   * written while it flushes (a shutdown handler's own "shutting down"
   * line, requests finishing), then releases the connection; logs still
   * unacknowledged at the timeout are counted as droppedClosed, and logs
   * written after close() resolved are dropped and counted. Idempotent;
   * resolves true when nothing was lost. Never rejects.
   */
  // winston-transport calls close() on unpipe without awaiting it; the promise never rejects.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises
  override close(timeoutMs: number = this.flushTimeoutMs): Promise<boolean> {
    if (this.closing === undefined) {
      this.removeExitHooks();
      const deadline = Date.now() + timeoutMs;
      this.closing = this.drain(timeoutMs)
        .then(() => this.pipeline.close(Math.max(0, deadline - Date.now())))
        .catch(() => false);
    }
    return this.closing;
  }

  /**
   * drain flushes until no log is pending, so logs written while a flush
   * runs are waited for too; false when timeoutMs passes first.
   */
  private async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await this.pipeline.flush(Math.max(0, deadline - Date.now()));
      if (!ok) return false;
      if (this.pipeline.pendingRecords === 0 || this.pipeline.isClosed) return true;
      if (Date.now() >= deadline) return false;
    }
  }

  /** stats returns the transport's counters. */
  stats(): SawmillStats {
    return {
      ...this.pipeline.stats,
      droppedInvalid: this.droppedInvalid,
      pending: this.pipeline.pendingRecords,
      bufferedBytes: this.pipeline.bufferedBytes,
    };
  }

  // _final runs on logger.end()/transport.end() before 'finish': wait for
  // the acknowledgements, so 'finish' means delivered.
  override _final(callback: (error?: Error | null) => void): void {
    this.flush().then(
      () => callback(),
      () => callback(),
    );
  }

  private problem(p: ProblemReport): void {
    const err = new SawmillError(p);
    if (this.onError !== undefined) {
      try {
        this.onError(err);
      } catch {
        // onError must not break logging.
      }
    }
    try {
      this.emit("warn", err);
    } catch {
      // Same for 'warn' listeners.
    }
  }

  private installExitHooks(): void {
    let flushing = false;
    const beforeExit = (): void => {
      if (flushing || this.pipeline.pendingRecords === 0 || this.pipeline.isClosed) return;
      flushing = true;
      void this.drain(this.flushTimeoutMs).finally(() => {
        flushing = false;
      });
    };
    process.on("beforeExit", beforeExit);
    this.exitHooks.push(() => process.off("beforeExit", beforeExit));
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const onSignal = (): void => {
        this.removeExitHooks();
        // The application's own listeners, counted now: a once() listener is
        // gone by the time the drain ends, but it handles this signal.
        const handled = process.listenerCount(signal) > 0;
        // Drain, not flush: what the process logs while shutting down goes too.
        void this.drain(this.flushTimeoutMs).finally(() => {
          // Re-raise for the default action unless the application handles it.
          if (!handled && process.listenerCount(signal) === 0) process.kill(process.pid, signal);
        });
      };
      process.once(signal, onSignal);
      this.exitHooks.push(() => process.off(signal, onSignal));
    }
  }

  private removeExitHooks(): void {
    for (const off of this.exitHooks.splice(0)) off();
  }
}
