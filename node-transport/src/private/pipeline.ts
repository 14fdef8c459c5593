// Pipeline: the bounded buffer between log() and the network.
//
// Records are encoded into the open batch as they are logged. A batch is
// sealed when it reaches batchSize records or maxBatchBytes, or when
// flushIntervalMs passed since its first record, or on flush(). Sealed
// batches wait in a FIFO queue and are sent with at most maxInFlight
// requests at a time.
//
// Guarantees:
//   - memory: open + queued + in-flight bytes never exceed maxBufferBytes; a
//     record that does not fit is dropped by the onFull policy and counted
//     ("drop-newest" drops the record, "drop-oldest" drops whole queued
//     batches, oldest first, never one already in flight);
//   - idempotency: a batch's id and bytes are fixed when it is sealed and are
//     reused by every retry, so the server stores it at most once;
//   - retries: retryable failures (UNAVAILABLE, RESOURCE_EXHAUSTED,
//     DEADLINE_EXCEEDED) put the batch back at the head of the queue and
//     pause sending for a backoff (exponential, with jitter, at least the
//     server's RetryInfo); other failures drop the batch and count it;
//   - flush(t) resolves true once every record appended before the call is
//     settled (acknowledged, or dropped and counted), false when t passes;
//     it never rejects;
//   - nothing here throws into the caller or leaves a rejected promise; the
//     pipeline's timers are unref'd (a pending flush() keeps the process
//     alive through its own timer).

import { randomBytes } from "node:crypto";
import { RecordBuffer, pushRequestOverhead, type RecordFields } from "./wire.js";

/** gRPC status codes the pipeline tells apart. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** A failed push. */
export interface SendFailure {
  /** gRPC status code. */
  code: number;
  /** The server's or the library's message. */
  message: string;
  /** The server's RetryInfo delay, when it sent one. */
  retryAfterMs?: number | undefined;
}

/** The server's answer to an accepted batch. */
export interface SendSuccess {
  accepted: number;
  duplicate: boolean;
}

/**
 * Sender delivers encoded sawmill.v1.PushRequest messages. push calls done
 * exactly once, asynchronously, with either a failure or a success. close
 * releases the connection; pushes still running end with a failure.
 */
export interface Sender {
  push(request: Uint8Array, timeoutMs: number, done: (failure: SendFailure | undefined, ok: SendSuccess | undefined) => void): void;
  close(): void;
}

/** What the pipeline reports; the transport turns these into 'warn' events and onError calls. */
export interface ProblemReport {
  code: "UNAVAILABLE" | "BUFFER_FULL" | "REJECTED" | "RETRIES_EXHAUSTED" | "CLOSED";
  message: string;
  /** Records the problem concerns (dropped so far for BUFFER_FULL). */
  records: number;
  /** The gRPC status code, for network problems. */
  grpcCode?: number | undefined;
}

export interface PipelineOptions {
  resource: Uint8Array;
  batchSize: number;
  maxBatchBytes: number;
  flushIntervalMs: number;
  maxBufferBytes: number;
  onFull: "drop-newest" | "drop-oldest";
  maxInFlight: number;
  maxRetries: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  timeoutMs: number;
  /** Minimum time between two reports of the same kind. */
  reportIntervalMs: number;
}

/** Counters, all since the transport was created. */
export interface PipelineStats {
  /** Records accepted into the buffer. */
  buffered: number;
  /** Records acknowledged by the server (durable). */
  acked: number;
  /** Records of batches the server had already stored (counted in acked too). */
  duplicates: number;
  /** Records dropped because the buffer was full. */
  droppedFull: number;
  /** Records of batches the server rejected (INVALID_ARGUMENT, UNAUTHENTICATED, ...). */
  droppedRejected: number;
  /** Records of batches that failed more than maxRetries times. */
  droppedRetries: number;
  /** Records still buffered when close() gave up, or logged after it. */
  droppedClosed: number;
  /** Push attempts that failed and were retried. */
  retries: number;
  /** Batches sent successfully. */
  batches: number;
}

interface Batch {
  id: string;
  bytes: Buffer;
  count: number;
  firstSeq: number;
  attempts: number;
}

interface Waiter {
  seq: number;
  resolve: (ok: boolean) => void;
  timer: NodeJS.Timeout | undefined;
}

/** No encoded record is smaller (tag, length, severity, observed time). */
const MIN_RECORD_BYTES = 16;

const RETRYABLE = new Set<number>([Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED, Code.DEADLINE_EXCEEDED]);

/** newBatchId returns a random 16-byte id as 32 hex digits. */
export function newBatchId(): string {
  return randomBytes(16).toString("hex");
}

export class Pipeline {
  readonly stats: PipelineStats = {
    buffered: 0,
    acked: 0,
    duplicates: 0,
    droppedFull: 0,
    droppedRejected: 0,
    droppedRetries: 0,
    droppedClosed: 0,
    retries: 0,
    batches: 0,
  };

  private readonly open = new RecordBuffer();
  private openFirstSeq = 0;
  private openTimer: NodeJS.Timeout | undefined;
  private readonly queue: Batch[] = [];
  private readonly inflight = new Set<Batch>();
  private seq = 0;
  private bytes = 0;
  private failStreak = 0;
  private gateUntil = 0;
  private gateTimer: NodeJS.Timeout | undefined;
  private waiters: Waiter[] = [];
  private closed = false;
  private readonly lastReport = new Map<string, number>();
  private readonly overhead: number;

  constructor(
    private readonly opts: PipelineOptions,
    private readonly sender: Sender,
    private readonly report: (p: ProblemReport) => void,
  ) {
    this.overhead = pushRequestOverhead(opts.resource.length);
  }

  /** bufferedBytes is how much memory the buffered records take (open + queued + in flight). */
  get bufferedBytes(): number {
    return this.bytes;
  }

  /** pendingRecords is how many records are buffered and not yet settled. */
  get pendingRecords(): number {
    let n = this.open.count;
    for (const b of this.queue) n += b.count;
    for (const b of this.inflight) n += b.count;
    return n;
  }

  /** isClosed reports whether close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * dropIfFull drops (and counts) a record before it is even mapped when it
   * could not be kept anyway: after close(), or with drop-newest while the
   * buffer is full. Logging stays cheap while the server is away.
   */
  dropIfFull(): boolean {
    if (this.closed) {
      this.stats.droppedClosed++;
      return true;
    }
    if (this.opts.onFull === "drop-newest" && this.bytes + MIN_RECORD_BYTES > this.opts.maxBufferBytes) {
      this.stats.droppedFull++;
      this.problem("BUFFER_FULL", `buffer full (${this.bytes} of ${this.opts.maxBufferBytes} bytes): dropping logs (drop-newest)`, this.stats.droppedFull);
      return true;
    }
    return false;
  }

  /** append encodes one record into the open batch; false when it was dropped. */
  append(r: RecordFields): boolean {
    if (this.closed) {
      this.stats.droppedClosed++;
      return false;
    }
    const limit = this.opts.maxBatchBytes - this.overhead;
    if (this.open.count > 0 && this.open.length + RecordBuffer.upperBound(r) > limit) {
      this.seal();
    }
    const prevLength = this.open.length;
    const prevCount = this.open.count;
    const n = this.open.append(r);
    if (this.bytes + n > this.opts.maxBufferBytes && !this.makeRoom(n)) {
      this.open.truncate(prevLength, prevCount);
      this.stats.droppedFull++;
      this.problem("BUFFER_FULL", `buffer full (${this.bytes} of ${this.opts.maxBufferBytes} bytes): dropping logs (${this.opts.onFull})`, this.stats.droppedFull);
      return false;
    }
    this.bytes += n;
    this.seq++;
    this.stats.buffered++;
    if (this.open.count === 1) {
      this.openFirstSeq = this.seq;
      this.openTimer = setTimeout(() => this.onInterval(), this.opts.flushIntervalMs);
      this.openTimer.unref();
    }
    if (this.open.count >= this.opts.batchSize || this.open.length >= limit) this.seal();
    return true;
  }

  // makeRoom drops queued batches, oldest first, under drop-oldest until n
  // more bytes fit; false when they cannot.
  private makeRoom(n: number): boolean {
    if (this.opts.onFull !== "drop-oldest") return false;
    while (this.bytes + n > this.opts.maxBufferBytes) {
      const oldest = this.queue.shift();
      if (oldest === undefined) return false;
      this.bytes -= oldest.bytes.length;
      this.stats.droppedFull += oldest.count;
      this.problem("BUFFER_FULL", `buffer full: dropped the oldest unsent batch (${oldest.count} logs, drop-oldest)`, this.stats.droppedFull);
    }
    this.settle();
    return true;
  }

  private onInterval(): void {
    this.openTimer = undefined;
    if (this.open.count > 0) this.seal();
  }

  /** seal turns the open batch into a queued batch and starts sending. */
  seal(): void {
    if (this.open.count === 0) return;
    if (this.openTimer !== undefined) {
      clearTimeout(this.openTimer);
      this.openTimer = undefined;
    }
    const count = this.open.count;
    const recordBytes = this.open.length;
    const id = newBatchId();
    const bytes = this.open.seal(id, this.opts.resource);
    this.bytes += bytes.length - recordBytes;
    this.queue.push({ id, bytes, count, firstSeq: this.openFirstSeq, attempts: 0 });
    this.pump();
  }

  private pump(): void {
    if (this.closed && this.waiters.length === 0) return;
    const now = Date.now();
    if (now < this.gateUntil) {
      if (this.gateTimer === undefined && this.queue.length > 0) {
        this.gateTimer = setTimeout(() => {
          this.gateTimer = undefined;
          this.pump();
        }, this.gateUntil - now);
        this.gateTimer.unref();
      }
      return;
    }
    while (this.inflight.size < this.opts.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.shift()!;
      this.send(batch);
    }
  }

  private send(batch: Batch): void {
    this.inflight.add(batch);
    batch.attempts++;
    let called = false;
    const done = (failure: SendFailure | undefined, ok: SendSuccess | undefined): void => {
      if (called) return;
      called = true;
      this.inflight.delete(batch);
      try {
        if (failure === undefined) this.onAck(batch, ok);
        else this.onFailure(batch, failure);
      } finally {
        this.settle();
        this.pump();
      }
    };
    try {
      this.sender.push(batch.bytes, this.opts.timeoutMs, done);
    } catch (e) {
      done({ code: Code.UNKNOWN, message: e instanceof Error ? e.message : String(e) }, undefined);
    }
  }

  private onAck(batch: Batch, ok: SendSuccess | undefined): void {
    this.bytes -= batch.bytes.length;
    this.stats.acked += batch.count;
    this.stats.batches++;
    if (ok?.duplicate === true) this.stats.duplicates += batch.count;
    if (this.failStreak > 0) {
      this.failStreak = 0;
      this.gateUntil = 0;
      this.lastReport.delete("UNAVAILABLE");
    }
  }

  private onFailure(batch: Batch, f: SendFailure): void {
    if (this.closed && this.waiters.length === 0) {
      this.bytes -= batch.bytes.length;
      this.stats.droppedClosed += batch.count;
      return;
    }
    if (RETRYABLE.has(f.code)) {
      if (batch.attempts > this.opts.maxRetries) {
        this.bytes -= batch.bytes.length;
        this.stats.droppedRetries += batch.count;
        this.problem("RETRIES_EXHAUSTED", `batch ${batch.id} dropped after ${batch.attempts} attempts: ${f.message}`, batch.count, f.code, true);
        return;
      }
      this.stats.retries++;
      this.failStreak++;
      this.queue.unshift(batch);
      const delay = Math.max(this.backoff(this.failStreak), f.retryAfterMs ?? 0);
      this.gateUntil = Math.max(this.gateUntil, Date.now() + delay);
      this.problem("UNAVAILABLE", `sawmill ingest unavailable (${f.message}); buffering, retrying in ${delay} ms`, this.pendingRecords, f.code);
      return;
    }
    this.bytes -= batch.bytes.length;
    this.stats.droppedRejected += batch.count;
    this.problem("REJECTED", `batch ${batch.id} of ${batch.count} logs rejected (gRPC code ${f.code}): ${f.message}`, batch.count, f.code, true);
  }

  /** backoff returns the delay before retry n (1-based): exponential with ±25% jitter, capped. */
  backoff(n: number): number {
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** Math.min(n - 1, 30));
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  private problem(code: ProblemReport["code"], message: string, records: number, grpcCode?: number, always = false): void {
    const now = Date.now();
    if (!always) {
      const last = this.lastReport.get(code);
      if (last !== undefined && now - last < this.opts.reportIntervalMs) return;
    }
    this.lastReport.set(code, now);
    try {
      this.report({ code, message, records, grpcCode });
    } catch {
      // A throwing listener must not break the pipeline.
    }
  }

  // settle resolves the flush waiters whose records are all settled.
  private settle(): void {
    if (this.waiters.length === 0) return;
    let min = Infinity;
    if (this.open.count > 0) min = this.openFirstSeq;
    for (const b of this.queue) if (b.firstSeq < min) min = b.firstSeq;
    for (const b of this.inflight) if (b.firstSeq < min) min = b.firstSeq;
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.seq < min) {
        if (w.timer !== undefined) clearTimeout(w.timer);
        w.resolve(true);
      } else {
        keep.push(w);
      }
    }
    this.waiters = keep;
  }

  /** flush seals the open batch and resolves when everything appended so far is settled (true) or timeoutMs passed (false). */
  flush(timeoutMs: number): Promise<boolean> {
    this.seal();
    const target = this.seq;
    return new Promise<boolean>((resolve) => {
      const w: Waiter = { seq: target, resolve, timer: undefined };
      this.waiters.push(w);
      this.settle();
      if (!this.waiters.includes(w)) return;
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(false);
      }, Math.max(0, timeoutMs));
      // A retry waiting behind the gate should go as soon as it may: pump now.
      this.pump();
    });
  }

  /**
   * close stops accepting records, waits up to timeoutMs for what is buffered
   * to be acknowledged, then releases the connection and counts whatever is
   * left as droppedClosed. Resolves true when nothing was left.
   */
  async close(timeoutMs: number): Promise<boolean> {
    const wasClosed = this.closed;
    this.closed = true;
    const ok = await this.flush(timeoutMs);
    if (wasClosed) return ok;
    if (this.openTimer !== undefined) clearTimeout(this.openTimer);
    if (this.gateTimer !== undefined) clearTimeout(this.gateTimer);
    this.openTimer = undefined;
    this.gateTimer = undefined;
    let left = 0;
    for (const b of this.queue) left += b.count;
    this.queue.length = 0;
    left += this.open.count;
    this.open.reset();
    this.stats.droppedClosed += left;
    this.bytes = 0;
    for (const b of this.inflight) {
      // Counted as droppedClosed when their push ends (the sender is closed below).
      left += b.count;
      this.bytes += b.bytes.length;
    }
    if (left > 0) {
      this.problem("CLOSED", `closed with ${left} logs not acknowledged`, left, undefined, true);
    }
    try {
      this.sender.close();
    } catch {
      // Closing is best effort.
    }
    return ok && left === 0;
  }
}
