// gRPC library comparison on one workload: from the same record fields (the
// mapped standard workload), build and push B batches of 1000 records to a
// real local sawmill server, 2 requests in flight, with
//   grpc-js         - @grpc/grpc-js, service definition built from the
//                     protoc-gen-es schemas: create() messages, serialize = toBinary
//   connect-node    - @connectrpc/connect-node createGrpcTransport +
//                     createClient(IngestService): create() messages, the
//                     library serializes with toBinary
//   grpc-js-raw     - @grpc/grpc-js sending the transport's own pre-encoded
//                     bytes (records encoded by RecordBuffer inside the timed
//                     loop: what SawmillTransport does)
//   connect-raw     - @connectrpc/connect-node sending the same pre-encoded
//                     bytes: the request type is swapped for a message
//                     { bytes batch = 1 }, which is wire-identical to
//                     PushRequest { LogBatch batch = 1 }, so both libraries
//                     send byte-identical requests
// Each variant runs in a fresh child process; rounds alternate the order.
// Reported: wall-clock logs/s and client CPU microseconds per log.
//
//   node build/bench/grpc-libs.js [--batches 100] [--rounds 2]
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { create, createFileRegistry, type DescMessage } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { IngestService, PushRequestSchema, type PushRequest } from "../src/gen/sawmill/v1/ingest_service_pb.js";
import { LogBatchSchema, LogRecordSchema, ResourceSchema, type LogRecord } from "../src/gen/sawmill/v1/log_pb.js";
import { grpcServiceDefinition } from "../src/private/grpc.js";
import { JsonWriter } from "../src/private/json.js";
import { newBatchId } from "../src/private/pipeline.js";
import { RecordBuffer, encodeResource, newRecordFields, type RecordFields } from "../src/private/wire.js";
import { SawmillServer } from "../test/server.js";
import { makeRecords } from "./workload.js";

const BATCH = 1000;
const IN_FLIGHT = 2;
const SEV: Record<string, number> = { info: 9, debug: 5, warn: 13, error: 17 };

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

/** The workload as record fields (attributes already JSON: the same input for every variant). */
function fields(n: number): RecordFields[] {
  const w = new JsonWriter();
  const now = BigInt(Date.now()) * 1_000_000n;
  return makeRecords(n, 3).map((r, i) => {
    w.begin();
    for (const [k, v] of Object.entries(r.meta)) if (k !== "trace_id" && k !== "span_id") w.field(k, v);
    return {
      ...newRecordFields(),
      timeUnixNano: now + BigInt(i),
      observedTimeUnixNano: now + BigInt(i),
      severityNumber: SEV[r.level] ?? 9,
      severityText: r.level,
      body: r.message,
      attributesJson: w.end(),
      traceId: r.meta.trace_id as string,
      spanId: r.meta.span_id as string,
    };
  });
}

const resourceMsg = create(ResourceSchema, { service: "bench-grpc", instance: "bench-grpc-1" });

/** toMessage builds batch b as a PushRequest message object (inside the timed loop, like encoding). */
function toMessage(recs: RecordFields[], b: number): PushRequest {
    const records: LogRecord[] = recs.slice(b * BATCH, (b + 1) * BATCH).map((r) =>
      create(LogRecordSchema, {
        timeUnixNano: r.timeUnixNano,
        observedTimeUnixNano: r.observedTimeUnixNano,
        severityNumber: r.severityNumber,
        severityText: r.severityText,
        body: r.body,
        attributesJson: Buffer.from(r.attributesJson),
        traceId: Buffer.from(r.traceId, "hex"),
        spanId: Buffer.from(r.spanId, "hex"),
      }),
    );
    return create(PushRequestSchema, { batch: create(LogBatchSchema, { batchId: newBatchId(), resource: resourceMsg, records }) });
}

/** runPool runs send(i) for i < count with at most IN_FLIGHT at once. */
async function runPool(count: number, send: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

interface Result {
  variant: string;
  logs: number;
  seconds: number;
  logsPerSecond: number;
  cpuMicrosPerLog: number;
}

/** RawPushRequest { bytes batch = 1; }: on the wire, the same as PushRequest with an encoded LogBatch. */
function rawPushRequestSchema(): DescMessage {
  const registry = createFileRegistry(
    create(FileDescriptorProtoSchema, {
      name: "bench/raw.proto",
      package: "bench.raw",
      syntax: "proto3",
      messageType: [
        {
          name: "RawPushRequest",
          field: [{ name: "batch", jsonName: "batch", number: 1, type: FieldDescriptorProto_Type.BYTES, label: FieldDescriptorProto_Label.OPTIONAL }],
        },
      ],
    }),
    () => undefined,
  );
  const m = registry.getMessage("bench.raw.RawPushRequest");
  if (m === undefined) throw new Error("RawPushRequest not in registry");
  return m;
}

/** encodeRaw encodes batch b with the transport's encoder; the LogBatch part is what follows the 1-field header. */
function encodeRaw(recs: RecordFields[], b: number, resource: Uint8Array): Buffer {
  const buf = new RecordBuffer();
  for (let j = b * BATCH; j < (b + 1) * BATCH; j++) buf.append(recs[j]!);
  return buf.seal(newBatchId(), resource);
}

async function child(variant: string, endpoint: string, batches: number): Promise<Result> {
  const recs = fields(batches * BATCH);
  let push: (i: number) => Promise<void>;
  let close: () => void;
  if (variant === "grpc-js") {
    const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(IngestService), "IngestService");
    const client = new Ctor(endpoint, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      push(req: PushRequest, cb: (err: grpc.ServiceError | null) => void): void;
    };
    push = (i) => new Promise((res, rej) => client.push(toMessage(recs, i), (err) => (err ? rej(err) : res())));
    close = () => client.close();
  } else if (variant === "connect-node") {
    const transport = createGrpcTransport({ baseUrl: `http://${endpoint}` });
    const client = createClient(IngestService, transport);
    push = async (i) => {
      await client.push(toMessage(recs, i));
    };
    close = () => {};
  } else if (variant === "connect-raw") {
    const raw = rawPushRequestSchema();
    const rawPush = { ...IngestService.method.push, input: raw };
    const service = { ...IngestService, methods: [rawPush], method: { push: rawPush } } as unknown as typeof IngestService;
    const client = createClient(service, createGrpcTransport({ baseUrl: `http://${endpoint}` }));
    const resource = encodeResource({ service: "bench-grpc", instance: "bench-grpc-1" });
    push = async (i) => {
      const bytes = encodeRaw(recs, i, resource);
      // Strip PushRequest's own header (tag 1 + length): the bytes field re-adds exactly it.
      let p = 1;
      while ((bytes[p]! & 0x80) !== 0) p++;
      await client.push(create(raw, { batch: bytes.subarray(p + 1) }) as never);
    };
    close = () => {};
  } else {
    const client = new grpc.Client(endpoint, grpc.credentials.createInsecure());
    const resource = encodeResource({ service: "bench-grpc", instance: "bench-grpc-1" });
    const path = `/${IngestService.typeName}/${IngestService.method.push.name}`;
    push = (i) =>
      new Promise((res, rej) => {
        const bytes = encodeRaw(recs, i, resource);
        client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, (err) => (err ? rej(err) : res()));
      });
    close = () => client.close();
  }
  await push(0); // connect and warm up (counted in the logs, not in the time)
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await runPool(batches - 1, (i) => push(i + 1));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  close();
  const logs = (batches - 1) * BATCH;
  return { variant, logs, seconds, logsPerSecond: logs / seconds, cpuMicrosPerLog: (cpu.user + cpu.system) / logs };
}

function runChild(variant: string, endpoint: string, batches: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child", variant, "--endpoint", endpoint, "--batches", String(batches)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill("SIGKILL"), 300_000);
    p.on("exit", (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`${variant} exited ${code}`));
      else resolve(JSON.parse(out.trim().split("\n").pop()!) as Result);
    });
  });
}

async function main(): Promise<void> {
  const batches = Number(arg("batches", "100"));
  const variant = arg("child", "");
  if (variant !== "") {
    process.stdout.write(JSON.stringify(await child(variant, arg("endpoint", ""), batches)) + "\n");
    return;
  }
  const rounds = Number(arg("rounds", "2"));
  const server = await SawmillServer.start();
  if (server instanceof Error) throw server;
  const variants = ["grpc-js", "connect-node", "grpc-js-raw", "connect-raw"];
  const results: Result[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        const res = await runChild(v, server.endpoint, batches);
        results.push(res);
        console.error(`${v}: ${Math.round(res.logsPerSecond)} logs/s, ${res.cpuMicrosPerLog.toFixed(2)} µs CPU/log`);
      }
    }
    const total = await server.waitCount("service=bench-grpc", rounds * variants.length * batches * BATCH, 60_000);
    console.error(`stored: ${total}`);
  } finally {
    await server.dispose();
  }
  console.log(`# gRPC libraries, ${batches} batches x ${BATCH} workload records, ${IN_FLIGHT} in flight, node ${process.version}`);
  console.log("| variant | logs/s (each round) | client CPU µs/log (each round) |");
  console.log("| --- | --- | --- |");
  for (const v of variants) {
    const rs = results.filter((x) => x.variant === v);
    console.log(`| ${v} | ${rs.map((x) => Math.round(x.logsPerSecond)).join(", ")} | ${rs.map((x) => x.cpuMicrosPerLog.toFixed(2)).join(", ")} |`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
