// The gRPC connection, through @grpc/grpc-js (pure JavaScript, no native
// code). Method paths and the response decoder come from the protoc-gen-es
// schemas in src/gen; requests are the pipeline's pre-encoded
// sawmill.v1.PushRequest bytes, passed through without re-encoding.
//
// bench/grpc-libs.ts measured grpc-js against @connectrpc/connect-node on the
// same workload; the figures and the reason for the choice are in README.md.

import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { IngestService, PushResponseSchema } from "../gen/sawmill/v1/ingest_service_pb.js";
import type { Sender, SendFailure, SendSuccess } from "./pipeline.js";

/** TLS settings for the connection. */
export interface TlsOptions {
  /** PEM root certificates to trust instead of the system's. */
  ca?: string | Buffer | undefined;
  /** PEM client certificate chain (mutual TLS). */
  cert?: string | Buffer | undefined;
  /** PEM client private key (mutual TLS). */
  key?: string | Buffer | undefined;
  /** Name to verify the server certificate against, when it differs from the endpoint host. */
  serverName?: string | undefined;
}

/** The path of a method of a protoc-gen-es service, e.g. "/sawmill.v1.IngestService/Push". */
export function methodPath(service: { typeName: string }, method: { name: string }): string {
  return `/${service.typeName}/${method.name}`;
}

/** asBuffer views bytes as a Buffer without copying. */
function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** grpcServiceDefinition builds a grpc-js service definition for a protoc-gen-es v2 service. */
export function grpcServiceDefinition(service: {
  typeName: string;
  methods: readonly { name: string; localName: string; methodKind: string; input: DescMessage; output: DescMessage }[];
}): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<MessageShape<DescMessage>, MessageShape<DescMessage>>> = {};
  for (const m of service.methods) {
    def[m.localName] = {
      path: methodPath(service, m),
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (v: MessageShape<DescMessage>) => asBuffer(toBinary(m.input, v)),
      requestDeserialize: (b: Buffer) => fromBinary(m.input, b),
      responseSerialize: (v: MessageShape<DescMessage>) => asBuffer(toBinary(m.output, v)),
      responseDeserialize: (b: Buffer) => fromBinary(m.output, b),
      originalName: m.name,
    };
  }
  return def;
}

const PUSH_PATH = methodPath(IngestService, IngestService.method.push);
const RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo";

/**
 * retryAfterMs reads google.rpc.RetryInfo.retry_delay out of an encoded
 * google.rpc.Status (the grpc-status-details-bin trailer). Undefined when
 * absent or malformed.
 */
export function retryAfterMs(statusBytes: Uint8Array): number | undefined {
  try {
    const r = new BinaryReader(statusBytes);
    while (r.pos < r.len) {
      const [field, wt] = r.tag();
      if (field !== 3 || wt !== WireType.LengthDelimited) {
        r.skip(wt);
        continue;
      }
      // details: google.protobuf.Any { type_url = 1; value = 2 }
      const any = new BinaryReader(r.bytes());
      let typeUrl = "";
      let value: Uint8Array | undefined;
      while (any.pos < any.len) {
        const [f, w] = any.tag();
        if (f === 1 && w === WireType.LengthDelimited) typeUrl = any.string();
        else if (f === 2 && w === WireType.LengthDelimited) value = any.bytes();
        else any.skip(w);
      }
      if (typeUrl !== RETRY_INFO_TYPE || value === undefined) continue;
      // RetryInfo { google.protobuf.Duration retry_delay = 1 }
      const ri = new BinaryReader(value);
      while (ri.pos < ri.len) {
        const [f, w] = ri.tag();
        if (f !== 1 || w !== WireType.LengthDelimited) {
          ri.skip(w);
          continue;
        }
        const d = new BinaryReader(ri.bytes());
        let seconds = 0;
        let nanos = 0;
        while (d.pos < d.len) {
          const [df, dw] = d.tag();
          if (df === 1 && dw === WireType.Varint) seconds = Number(d.int64());
          else if (df === 2 && dw === WireType.Varint) nanos = d.int32();
          else d.skip(dw);
        }
        return Math.max(0, Math.round(seconds * 1000 + nanos / 1e6));
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

export interface GrpcSenderOptions {
  endpoint: string;
  /** Undefined: TLS when the endpoint starts with https://, else plaintext. */
  tls?: boolean | TlsOptions | undefined;
  token?: string | undefined;
  /** Longest wait between reconnection attempts while the server is away. */
  maxReconnectBackoffMs: number;
}

/** parseEndpoint splits "http(s)://host:port" or "host:port" into a grpc-js target and whether TLS is implied. */
export function parseEndpoint(endpoint: string): { target: string; tls: boolean | undefined } {
  const m = /^(https?):\/\/([^/]+)\/?$/.exec(endpoint);
  if (m !== null) return { target: m[2]!, tls: m[1] === "https" };
  return { target: endpoint, tls: undefined };
}

function toBuffer(v: string | Buffer | undefined): Buffer | null {
  if (v === undefined) return null;
  return typeof v === "string" ? Buffer.from(v) : v;
}

/** GrpcSender pushes batches with unary IngestService/Push calls. */
export class GrpcSender implements Sender {
  private readonly client: grpc.Client;
  private readonly metadata: grpc.Metadata;

  constructor(opts: GrpcSenderOptions) {
    const { target, tls: implied } = parseEndpoint(opts.endpoint);
    const tls = opts.tls ?? implied ?? false;
    let creds: grpc.ChannelCredentials;
    const channelOptions: grpc.ChannelOptions = {
      "grpc.max_send_message_length": 16 * 1024 * 1024,
      "grpc.max_receive_message_length": 4 * 1024 * 1024,
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": opts.maxReconnectBackoffMs,
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      // The pipeline retries (with the same batch id); the library must not on its own.
      "grpc.enable_retries": 0,
    };
    if (tls === false) {
      creds = grpc.credentials.createInsecure();
    } else {
      const t: TlsOptions = tls === true ? {} : tls;
      creds = grpc.credentials.createSsl(toBuffer(t.ca), toBuffer(t.key), toBuffer(t.cert));
      if (t.serverName !== undefined) channelOptions["grpc.ssl_target_name_override"] = t.serverName;
    }
    this.client = new grpc.Client(target, creds, channelOptions);
    this.metadata = new grpc.Metadata();
    if (opts.token !== undefined && opts.token !== "") {
      this.metadata.set("authorization", `Bearer ${opts.token}`);
    }
  }

  push(request: Uint8Array, timeoutMs: number, done: (failure: SendFailure | undefined, ok: SendSuccess | undefined) => void): void {
    this.client.makeUnaryRequest<Uint8Array, SendSuccess>(
      PUSH_PATH,
      asBuffer,
      (b) => {
        const r = fromBinary(PushResponseSchema, b);
        return { accepted: r.accepted, duplicate: r.duplicate };
      },
      request,
      this.metadata.clone(),
      { deadline: Date.now() + timeoutMs },
      (err, resp) => {
        if (err !== null) {
          const details = err.metadata?.get("grpc-status-details-bin")?.[0];
          done(
            {
              code: err.code,
              message: err.details || err.message,
              retryAfterMs: Buffer.isBuffer(details) ? retryAfterMs(details) : undefined,
            },
            undefined,
          );
          return;
        }
        done(undefined, resp ?? { accepted: 0, duplicate: false });
      },
    );
  }

  close(): void {
    this.client.close();
  }
}
