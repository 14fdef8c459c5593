// Protobuf wire encoding of sawmill.v1 ingest messages, written by hand so a
// record is encoded once, when it is logged, straight into the open batch's
// buffer. A batch is then its header plus the concatenated record bytes:
// sealing, sending and retrying never re-encode anything, and no step ever
// encodes a whole batch at once (the event loop is never held by it).
//
// Field numbers and wire types follow proto/sawmill/v1/log.proto and
// ingest_service.proto (edition 2023, implicit presence: zero values are not
// written). wire_test.ts decodes everything written here with the generated
// schemas (fromBinary) to prove the two agree.

/** One record's fields, ready to encode. Empty strings and 0n are left out. */
export interface RecordFields {
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  body: string;
  /** JSON object text, or "" for no attributes. */
  attributesJson: string;
  /** 32 hex digits (16 bytes), or "" for none; validated by the caller. */
  traceId: string;
  /** 16 hex digits (8 bytes), or "" for none; validated by the caller. */
  spanId: string;
  logger: string;
  errorType: string;
  errorMessage: string;
  errorStack: string;
}

/** newRecordFields returns an empty record. */
export function newRecordFields(): RecordFields {
  return {
    timeUnixNano: 0n,
    observedTimeUnixNano: 0n,
    severityNumber: 0,
    severityText: "",
    body: "",
    attributesJson: "",
    traceId: "",
    spanId: "",
    logger: "",
    errorType: "",
    errorMessage: "",
    errorStack: "",
  };
}

/** Resource fields (sent once per batch). */
export interface ResourceFields {
  service: string;
  instance?: string | undefined;
  environment?: string | undefined;
  version?: string | undefined;
  /** JSON object text, or "" for none. */
  attributesJson?: string | undefined;
}

// Tags: (field number << 3) | wire type.
const TAG_TIME = 0x09; // 1, fixed64
const TAG_OBSERVED = 0x11; // 2, fixed64
const TAG_SEVERITY = 0x18; // 3, varint
const TAG_SEVERITY_TEXT = 0x22; // 4, len
const TAG_BODY = 0x2a; // 5, len
const TAG_ATTRS = 0x32; // 6, len
const TAG_TRACE = 0x3a; // 7, len
const TAG_SPAN = 0x42; // 8, len
const TAG_LOGGER = 0x4a; // 9, len
const TAG_ERROR = 0x5a; // 11, len
const TAG_ERR_TYPE = 0x0a; // ErrorInfo.type = 1
const TAG_ERR_MESSAGE = 0x12; // ErrorInfo.message = 2
const TAG_ERR_STACK = 0x1a; // ErrorInfo.stack = 3
const TAG_BATCH_RECORDS = 0x1a; // LogBatch.records = 3
const TAG_BATCH_ID = 0x0a; // LogBatch.batch_id = 1
const TAG_BATCH_RESOURCE = 0x12; // LogBatch.resource = 2
const TAG_PUSH_BATCH = 0x0a; // PushRequest.batch = 1

/** The largest record the writer accepts, encoded; bigger ones are a bug in the caller's limits. */
export const MAX_RECORD_BYTES = (1 << 21) - 1;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function putVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/**
 * RecordBuffer accumulates encoded LogBatch.records entries (tag 3 + length
 * + LogRecord) in one growing buffer. Not safe for concurrent use (there is
 * none in Node); a buffer is reused after seal() or take().
 */
export class RecordBuffer {
  private buf: Buffer;
  /** Bytes written. */
  length = 0;
  /** Records written. */
  count = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  private ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  /**
   * upperBound returns at most how many bytes append(r) writes: every UTF-16
   * code unit becomes at most 3 UTF-8 bytes.
   */
  static upperBound(r: RecordFields): number {
    return (
      128 +
      3 *
        (r.severityText.length +
          r.body.length +
          r.attributesJson.length +
          r.logger.length +
          r.errorType.length +
          r.errorMessage.length +
          r.errorStack.length)
    );
  }

  /** append encodes one record; it returns the bytes it added. */
  append(r: RecordFields): number {
    this.ensure(RecordBuffer.upperBound(r));
    const buf = this.buf;
    const start = this.length;
    buf[start] = TAG_BATCH_RECORDS;
    // Reserve 3 bytes for the record length (records are < 2 MiB), shift after.
    let pos = start + 4;
    const bodyStart = pos;
    if (r.timeUnixNano !== 0n) {
      buf[pos++] = TAG_TIME;
      buf.writeBigUInt64LE(r.timeUnixNano, pos);
      pos += 8;
    }
    if (r.observedTimeUnixNano !== 0n) {
      buf[pos++] = TAG_OBSERVED;
      buf.writeBigUInt64LE(r.observedTimeUnixNano, pos);
      pos += 8;
    }
    if (r.severityNumber !== 0) {
      buf[pos++] = TAG_SEVERITY;
      pos = putVarint(buf, pos, r.severityNumber);
    }
    pos = this.putString(pos, TAG_SEVERITY_TEXT, r.severityText);
    pos = this.putString(pos, TAG_BODY, r.body);
    pos = this.putString(pos, TAG_ATTRS, r.attributesJson);
    if (r.traceId.length === 32) {
      buf[pos++] = TAG_TRACE;
      buf[pos++] = 16;
      pos += buf.write(r.traceId, pos, 16, "hex");
    }
    if (r.spanId.length === 16) {
      buf[pos++] = TAG_SPAN;
      buf[pos++] = 8;
      pos += buf.write(r.spanId, pos, 8, "hex");
    }
    pos = this.putString(pos, TAG_LOGGER, r.logger);
    if (r.errorType !== "" || r.errorMessage !== "" || r.errorStack !== "") {
      const errStart = pos;
      buf[errStart] = TAG_ERROR;
      let p = errStart + 4;
      const errBody = p;
      p = this.putString(p, TAG_ERR_TYPE, r.errorType);
      p = this.putString(p, TAG_ERR_MESSAGE, r.errorMessage);
      p = this.putString(p, TAG_ERR_STACK, r.errorStack);
      pos = this.closeLength(errStart + 1, errBody, p);
    }
    const end = this.closeLength(start + 1, bodyStart, pos);
    this.length = end;
    this.count++;
    return end - start;
  }

  // closeLength writes the length of [bodyStart, end) as a varint at lenPos
  // (3 bytes were reserved), moves the body down when the varint is shorter,
  // and returns the new end.
  private closeLength(lenPos: number, bodyStart: number, end: number): number {
    const len = end - bodyStart;
    if (len > MAX_RECORD_BYTES) throw new RangeError(`wire: record of ${len} bytes exceeds ${MAX_RECORD_BYTES}`);
    const after = putVarint(this.buf, lenPos, len);
    if (after !== bodyStart) {
      this.buf.copyWithin(after, bodyStart, end);
    }
    return after + len;
  }

  private putString(pos: number, tag: number, s: string): number {
    if (s === "") return pos;
    const buf = this.buf;
    buf[pos++] = tag;
    if (s.length < 43) {
      // At most 126 UTF-8 bytes: the length fits one varint byte.
      const n = buf.write(s, pos + 1, "utf8");
      buf[pos] = n;
      return pos + 1 + n;
    }
    const n = Buffer.byteLength(s, "utf8");
    pos = putVarint(buf, pos, n);
    return pos + buf.write(s, pos, "utf8");
  }

  /**
   * seal frames the records written as a sawmill.v1.PushRequest (one copy,
   * into an exactly sized buffer) and empties the buffer for reuse.
   */
  seal(batchId: string, resource: Uint8Array): Buffer {
    const out = encodePushRequest(batchId, resource, this.buf.subarray(0, this.length));
    this.length = 0;
    this.count = 0;
    return out;
  }

  /** take returns a copy of the records written and empties the buffer. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.length);
    this.buf.copy(out, 0, 0, this.length);
    this.length = 0;
    this.count = 0;
    return out;
  }

  /** truncate rolls back to an earlier length and count (undoing the last append). */
  truncate(length: number, count: number): void {
    this.length = length;
    this.count = count;
  }

  /** reset drops what was written. */
  reset(): void {
    this.length = 0;
    this.count = 0;
  }
}

function putLengthDelimited(parts: number[], tag: number, bytes: Uint8Array): void {
  parts.push(tag);
  let n = bytes.length;
  while (n >= 0x80) {
    parts.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  parts.push(n);
  for (const b of bytes) parts.push(b);
}

/** encodeResource encodes a sawmill.v1.Resource message. */
export function encodeResource(r: ResourceFields): Buffer {
  const parts: number[] = [];
  const str = (tag: number, s: string | undefined): void => {
    if (s !== undefined && s !== "") putLengthDelimited(parts, tag, Buffer.from(s, "utf8"));
  };
  str(0x0a, r.service);
  str(0x12, r.instance);
  str(0x1a, r.environment);
  str(0x22, r.version);
  str(0x2a, r.attributesJson);
  return Buffer.from(parts);
}

/**
 * encodePushRequest frames records (the output of RecordBuffer.take) as a
 * sawmill.v1.PushRequest{batch: LogBatch{batch_id, resource, records}}.
 */
export function encodePushRequest(batchId: string, resource: Uint8Array, records: Uint8Array): Buffer {
  const id = Buffer.from(batchId, "ascii");
  const idPart = 1 + varintSize(id.length) + id.length;
  const resPart = resource.length > 0 ? 1 + varintSize(resource.length) + resource.length : 0;
  const batchLen = idPart + resPart + records.length;
  const total = 1 + varintSize(batchLen) + batchLen;
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  out[pos++] = TAG_PUSH_BATCH;
  pos = putVarint(out, pos, batchLen);
  out[pos++] = TAG_BATCH_ID;
  pos = putVarint(out, pos, id.length);
  id.copy(out, pos);
  pos += id.length;
  if (resPart > 0) {
    out[pos++] = TAG_BATCH_RESOURCE;
    pos = putVarint(out, pos, resource.length);
    out.set(resource, pos);
    pos += resource.length;
  }
  out.set(records, pos);
  return out;
}

/** pushRequestOverhead is how many bytes encodePushRequest adds around the records (upper bound). */
export function pushRequestOverhead(resourceBytes: number): number {
  return 1 + 5 + 1 + 1 + 64 + 1 + 5 + resourceBytes;
}
