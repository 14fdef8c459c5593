// A scripted in-memory Sender for unit tests: it decodes every request with
// the generated schema and answers as the test says.
import { fromBinary } from "@bufbuild/protobuf";
import { PushRequestSchema } from "../src/gen/sawmill/v1/ingest_service_pb.js";
import type { LogBatch, LogRecord } from "../src/gen/sawmill/v1/log_pb.js";
import type { Sender, SendFailure, SendSuccess } from "../src/private/pipeline.js";

export type Answer = SendFailure | "ok" | "hang";

export class FakeSender implements Sender {
  /** Every request received, decoded, in order. */
  readonly requests: LogBatch[] = [];
  /** Batches answered OK, by id (the "server's store"). */
  readonly stored = new Map<string, LogBatch>();
  /** Answers to give, in order; when empty, "ok". */
  readonly script: Answer[] = [];
  /** Answer for every request when the script is empty. */
  fallback: Answer = "ok";
  /** Delay before answering, ms. */
  delayMs = 0;
  closed = false;
  private readonly hanging: ((f: SendFailure | undefined, ok: SendSuccess | undefined) => void)[] = [];

  push(request: Uint8Array, _timeoutMs: number, done: (f: SendFailure | undefined, ok: SendSuccess | undefined) => void): void {
    const batch = fromBinary(PushRequestSchema, request).batch!;
    this.requests.push(batch);
    const answer = this.script.shift() ?? this.fallback;
    if (answer === "hang") {
      this.hanging.push(done);
      return;
    }
    setTimeout(() => {
      if (answer === "ok") {
        const duplicate = this.stored.has(batch.batchId);
        this.stored.set(batch.batchId, batch);
        done(undefined, { accepted: batch.records.length, duplicate });
      } else {
        done(answer, undefined);
      }
    }, this.delayMs);
  }

  close(): void {
    this.closed = true;
    for (const done of this.hanging.splice(0)) done({ code: 1, message: "channel closed" }, undefined);
  }

  /** records returns the records of all stored batches. */
  records(): LogRecord[] {
    return [...this.stored.values()].flatMap((b) => b.records);
  }
}

export const unavailable: SendFailure = { code: 14, message: "connection refused" };
export const invalid: SendFailure = { code: 3, message: "batch.records[0].body: is not valid UTF-8" };
