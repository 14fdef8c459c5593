// Throughput benchmark: logs/s one Node process pushes through winston, and
// the event-loop delay while it does, for
//   floor   - winston's Stream transport into a no-op sink (winston's own floor)
//   file    - winston's File transport into a temp file (the anchor)
//   sawmill - SawmillTransport into a real local sawmill server (embedded mode)
//   null    - SawmillTransport with a sender that acks at once (no network,
//             no server competing for the cores): the client's own cost
// in one run, each scenario in a fresh child process, one after the other.
//
// Every scenario logs the same N workload records (bench/workload.ts) in
// chunks of 1000 with a setImmediate between chunks, and stops the clock when
// the records are delivered: written to the sink, in the file, acknowledged
// by the server (transport.flush()). The sawmill count is then checked with
// /api/v1/logs/count. Bounded: N records, and every wait has a deadline.
//
//   node build/bench/throughput.js [--n 200000] [--rounds 1] [--only floor,file,sawmill,floor-big,sawmill-big]
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Writable } from "node:stream";
import { setImmediate as tick } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import winston from "winston";
import type TransportStream from "winston-transport";
import { SawmillTransport, type SawmillStats } from "../src/index.js";
import { SawmillServer } from "../test/server.js";
import { makeRecords } from "./workload.js";

interface Result {
  scenario: string;
  n: number;
  /** Seconds from the first log call to delivery. */
  seconds: number;
  logsPerSecond: number;
  /** Logs/s of the log calls alone (handed to winston). */
  queuedPerSecond: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  peakRssMiB: number;
  delivered: number;
  stats?: SawmillStats;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

async function child(name: string, n: number, endpoint: string): Promise<Result> {
  const records = makeRecords(n, 7);
  // "-big" variants carry a 4 KiB attribute per record: ~4 MiB batches, to
  // show whether sending big batches blocks the event loop.
  const big = name.endsWith("-big");
  const scenario = big ? name.slice(0, -4) : name;
  if (big) {
    const payload = "p".repeat(4096);
    for (const r of records) r.meta.payload = payload;
  }
  let delivered = 0;
  let transport: TransportStream;
  let file = "";
  let sawmill: SawmillTransport | undefined;
  if (scenario === "floor") {
    const sink = new Writable({
      write(_chunk, _enc, cb) {
        delivered++;
        cb();
      },
    });
    transport = new winston.transports.Stream({ stream: sink });
  } else if (scenario === "file") {
    file = join(mkdtempSync(join(tmpdir(), "bench-file-")), "app.log");
    transport = new winston.transports.File({ filename: file });
  } else if (scenario === "null") {
    // The transport with a sender that acknowledges at once without a
    // network: the client's own cost, apart from the server competing for
    // the same cores.
    sawmill = new SawmillTransport(
      { service: "bench-node", flushIntervalMs: 100, batchSize: 1000 },
      { push: (_req, _t, done) => setImmediate(() => done(undefined, { accepted: 0, duplicate: false })), close: () => {} },
    );
    transport = sawmill;
  } else {
    sawmill = new SawmillTransport({ service: "bench-node", endpoint, flushIntervalMs: 100, batchSize: 1000 });
    sawmill.on("warn", (e: Error) => console.error("warn:", e.message));
    transport = sawmill;
  }
  const logger = winston.createLogger({ level: "debug", transports: [transport] });

  const h = monitorEventLoopDelay({ resolution: 10 });
  let peakRss = 0;
  globalThis.gc?.();
  h.enable();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1000) {
    const end = Math.min(n, i + 1000);
    for (let j = i; j < end; j++) {
      const r = records[j]!;
      logger.log(r.level, r.message, r.meta);
    }
    if ((i / 1000) % 16 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    await tick();
  }
  const queued = process.hrtime.bigint();
  const deadline = Date.now() + 180_000;
  if (scenario === "floor") {
    while (delivered < n && Date.now() < deadline) await tick();
  } else if (scenario === "file") {
    // Wait until every line is in the file (the File transport's own events fire earlier).
    for (;;) {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        size = 0;
      }
      if (size > 0) {
        delivered = readFileSync(file, "utf8").split("\n").length - 1;
        if (delivered >= n) break;
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  } else {
    const ok = await sawmill!.flush(180_000);
    delivered = scenario === "null" ? sawmill!.stats().buffered : sawmill!.stats().acked;
    if (!ok) console.error("flush timed out");
  }
  const done = process.hrtime.bigint();
  h.disable();
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const seconds = Number(done - start) / 1e9;
  const result: Result = {
    scenario: name,
    n,
    seconds,
    logsPerSecond: n / seconds,
    queuedPerSecond: n / (Number(queued - start) / 1e9),
    loopDelayP99Ms: h.percentile(99) / 1e6,
    loopDelayMaxMs: h.max / 1e6,
    peakRssMiB: peakRss / 2 ** 20,
    delivered,
    stats: sawmill?.stats(),
  };
  if (sawmill !== undefined) await sawmill.close(5000);
  logger.close();
  if (file !== "") rmSync(join(file, ".."), { recursive: true, force: true });
  return result;
}

function runChild(scenario: string, n: number, endpoint: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--child", scenario, "--n", String(n), "--endpoint", endpoint], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill("SIGKILL"), 300_000);
    p.on("exit", (code) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").pop() ?? "";
      if (code !== 0) reject(new Error(`${scenario} exited ${code}: ${out}`));
      else resolve(JSON.parse(line) as Result);
    });
  });
}

function gitRev(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    return "?";
  }
}

async function main(): Promise<void> {
  const childScenario = arg("child", "");
  const n = Number(arg("n", "200000"));
  if (childScenario !== "") {
    const r = await child(childScenario, n, arg("endpoint", ""));
    process.stdout.write(JSON.stringify(r) + "\n");
    return;
  }
  const rounds = Number(arg("rounds", "1"));
  const only = arg("only", "floor,file,sawmill").split(",");
  const server = await SawmillServer.start();
  if (server instanceof Error) throw server;
  const results: (Result & { round: number })[] = [];
  let sawmillRuns = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const s of only) {
        const r = await runChild(s, n, server.endpoint);
        if (s.startsWith("sawmill")) {
          sawmillRuns++;
          const stored = await server.waitCount("service=bench-node", n * sawmillRuns, 60_000);
          (r as Result & { storedTotal?: number }).storedTotal = stored;
        }
        results.push({ ...r, round });
        console.error(`${s}: ${Math.round(r.logsPerSecond)} logs/s, loop p99 ${r.loopDelayP99Ms.toFixed(1)} ms`);
      }
    }
  } finally {
    await server.dispose();
  }
  // Each result is compared with the floor of its own round (same minute of a noisy machine).
  const floorRate = (scenario: string, round: number): number => {
    const floor = results.find((r) => r.round === round && r.scenario === (scenario.endsWith("-big") ? "floor-big" : "floor"));
    return floor?.logsPerSecond ?? NaN;
  };
  const median = (xs: number[]): number => {
    const v = [...xs].sort((a, b) => a - b);
    const m = Math.floor(v.length / 2);
    return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
  };
  console.log(`# winston-sawmill throughput (commit ${gitRev()}, node ${process.version}, N=${n} per scenario)`);
  if (rounds > 1) {
    console.log(`\nMedians over ${rounds} rounds (% of the floor of the same round):\n`);
    console.log("| scenario | logs/s | % of floor | event-loop p99 ms | peak RSS MiB |");
    console.log("| --- | --- | --- | --- | --- |");
    for (const sc of only) {
      const rs = results.filter((r) => r.scenario === sc);
      console.log(
        `| ${sc} | ${Math.round(median(rs.map((r) => r.logsPerSecond)))} | ${median(rs.map((r) => (100 * r.logsPerSecond) / floorRate(sc, r.round))).toFixed(0)}% | ${median(rs.map((r) => r.loopDelayP99Ms)).toFixed(1)} | ${median(rs.map((r) => r.peakRssMiB)).toFixed(0)} |`,
      );
    }
    console.log("\nEvery run:\n");
  }
  console.log("| scenario | logs/s end to end | % of floor | log calls/s | event-loop p99 / max (ms) | peak RSS MiB | delivered |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of results) {
    const stored = (r as Result & { storedTotal?: number }).storedTotal;
    console.log(
      `| ${r.scenario} | ${Math.round(r.logsPerSecond)} | ${((100 * r.logsPerSecond) / floorRate(r.scenario, r.round)).toFixed(0)}% | ${Math.round(r.queuedPerSecond)} | ${r.loopDelayP99Ms.toFixed(1)} / ${r.loopDelayMaxMs.toFixed(1)} | ${r.peakRssMiB.toFixed(0)} | ${r.delivered}${stored !== undefined ? ` (stored total ${stored})` : ""} |`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
