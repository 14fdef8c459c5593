// One source of the standard "seed-burst" workload (BENCHMARKS.md, "The workload"),
// logging the way a Node service does: winston with the winston-sawmill
// transport. Records are paced by a token bucket refilled every 10 ms; the
// transport batches them (--batch records or --batch-wait ms) and pushes
// them over gRPC. Every 100 ms one record is a marker (message "marker N
// from SERVICE", attribute marker_seq=N) whose hand-off time is reported.
// The event-loop delay is sampled throughout (10 ms resolution).
//
// --sink floor replaces the transport by winston's Stream transport into a
// no-op sink: winston's own ceiling on this machine, to judge the transport
// against (see BENCHMARKS.md, Node).
//
//   node src/main.js --target 127.0.0.1:7070 --service orders --rate 100000 --duration 5s [--report FILE]
//
// Prints one summary line; exits 1 when any record was not acknowledged.
// Bounded: the run stops at duration + 30 s, and flush waits at most
// --close-timeout.
import { writeFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Writable } from "node:stream";
import winston from "winston";
import { SawmillTransport } from "winston-sawmill";
import { Workload } from "./workload.js";

/** @param {string} name @param {string} def */
function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? String(process.argv[i + 1]) : def;
}

/** Parses "5s", "500ms", "1m" or plain seconds into ms. @param {string} s */
function durationMs(s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s);
  if (!m) throw new RangeError(`loadgen-node: bad duration ${JSON.stringify(s)}`);
  const v = Number(m[1]);
  return m[2] === "ms" ? v : m[2] === "m" ? v * 60_000 : v * 1000;
}

/** Wall clock in unix ns, as a decimal string (beyond 2^53). */
function nowNs() {
  const ms = performance.timeOrigin + performance.now();
  return (BigInt(Math.floor(ms)) * 1_000_000n + BigInt(Math.round((ms % 1) * 1e6))).toString();
}

const target = arg("target", "127.0.0.1:7070");
const service = arg("service", "orders");
const rate = Number(arg("rate", "100000"));
const durMs = durationMs(arg("duration", "5s"));
const seed = Number(arg("seed", "1"));
const batch = Number(arg("batch", "1000"));
const batchWaitMs = durationMs(arg("batch-wait", "100ms"));
const inflight = Number(arg("inflight", "2"));
const markerEveryMs = durationMs(arg("marker-every", "100ms"));
const closeTimeoutMs = durationMs(arg("close-timeout", "60s"));
const report = arg("report", "");
const sink = arg("sink", "sawmill");
if (!(rate > 0 && durMs > 0 && batch > 0 && inflight > 0 && markerEveryMs > 0)) {
  console.error("loadgen-node: --rate, --duration, --batch, --inflight and --marker-every must be positive");
  process.exit(2);
}

/** @type {SawmillTransport | undefined} */
let transport;
/** @type {import("winston-transport")} */
let out;
if (sink === "floor") {
  out = new winston.transports.Stream({ stream: new Writable({ write: (_c, _e, cb) => cb() }) });
} else {
  transport = new SawmillTransport({
    endpoint: target,
    service,
    instance: `${service}-1`,
    batchSize: batch,
    flushIntervalMs: batchWaitMs,
    maxInFlight: inflight,
    token: process.env.SAWMILL_TOKEN || undefined,
    onError: (e) => {
      if (e.code !== "UNAVAILABLE") console.error(`loadgen-node: ${e.message}`);
    },
  });
  out = transport;
}
const logger = winston.createLogger({ level: "debug", transports: [out] });

const gen = new Workload(service, seed);
const total = Math.floor((rate * durMs) / 1000);
/** @type {{ seq: number, ns: string }[]} */
const markers = [];
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const startNs = nowNs();
const start = performance.now();
const deadline = start + durMs + 30_000;
let nextMarker = start;
let sent = 0;
let maxBehindMs = 0;
const CHUNK = 200; // most log calls per macrotask, so timers and I/O still run

await new Promise((resolve) => {
  const step = () => {
    const now = performance.now();
    const due = Math.min(total, Math.floor((rate * (now - start)) / 1000));
    maxBehindMs = Math.max(maxBehindMs, ((due - sent) / rate) * 1000);
    const until = Math.min(due, sent + CHUNK);
    for (; sent < until; sent++) {
      const e = gen.entry();
      if (now >= nextMarker) {
        const seq = markers.length;
        markers.push({ seq, ns: nowNs() });
        logger.log("info", `marker ${seq} from ${service}`, { ...e.meta, marker_seq: seq });
        nextMarker += markerEveryMs;
        continue;
      }
      logger.log(e.level, e.message, e.meta);
    }
    if (sent >= total || performance.now() > deadline) return resolve(undefined);
    if (sent < due) setImmediate(step);
    else setTimeout(step, 10);
  };
  step();
});
const loggedNs = nowNs();
const ok = transport ? await transport.close(closeTimeoutMs) : true;
const doneNs = nowNs();
const elapsedS = (performance.now() - start) / 1000;
loop.disable();
const st = transport?.stats();
const acked = st ? st.acked : sent;
const failed = sent - Math.min(sent, acked);
const p99 = loop.percentile(99) / 1e6;
const maxDelay = loop.max / 1e6;
console.log(
  `service=${service} sdk=node sink=${sink} sent=${sent} acked=${acked} failed=${failed} elapsed=${elapsedS.toFixed(2)}s ` +
    `rate=${Math.round(acked / elapsedS)}/s logged_rate=${Math.round(sent / ((Number(BigInt(loggedNs) - BigInt(startNs)) / 1e9)))}/s ` +
    `max_behind=${Math.round(maxBehindMs)}ms loop_p99=${p99.toFixed(1)}ms loop_max=${maxDelay.toFixed(1)}ms retries=${st?.retries ?? 0} ` +
    `peak_rss=${Math.round(process.resourceUsage().maxRSS / 1024)}MiB`,
);
if (report !== "") {
  // Hand-written JSON: the unix-ns times do not fit a double.
  const m = markers.map((x) => `{"seq":${x.seq},"handed_unix_nano":${x.ns}}`).join(",");
  writeFileSync(
    report,
    `{"service":${JSON.stringify(service)},"sdk":"node","sink":${JSON.stringify(sink)},"rate":${rate},"sent":${sent},"acked":${acked},` +
      `"failed":${failed},"retries":${st?.retries ?? 0},"start_unix_nano":${startNs},"logged_unix_nano":${loggedNs},"done_unix_nano":${doneNs},` +
      `"max_behind_ms":${maxBehindMs},"batch_records":${batch},"batch_wait_ms":${batchWaitMs},` +
      `"loop_delay_p99_ms":${p99},"loop_delay_max_ms":${maxDelay},"peak_rss_mib":${process.resourceUsage().maxRSS / 1024},"markers":[${m}]}\n`,
  );
}
process.exitCode = ok && failed === 0 ? 0 : 1;
