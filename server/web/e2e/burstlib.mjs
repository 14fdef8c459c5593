// Runs the standard workload's burst (examples/loadgen, one process per
// service) against a server while the dashboard's live tail and overview
// are open, and measures how the page keeps up: animation-frame gaps,
// click-to-update latency, the tail's lag behind the records' own times,
// and how long the store takes to catch up with ingest.

import { spawn } from "node:child_process";
import { once } from "node:events";
import { api, loadgenBin, newPage, screenshot, sleep } from "./harness.mjs";

function pct(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export function summary(xs) {
  return { n: xs.length, p50: Math.round(pct(xs, 50)), p95: Math.round(pct(xs, 95)), max: Math.round(Math.max(...xs)) };
}

/**
 * measureBurst runs `services` loadgen processes at `rate` records/s each
 * for `duration` (a Go duration) and returns the measurements.
 */
export async function measureBurst(server, browser, { services = ["orders", "payments", "inventory"], rate, duration, shots = "burst" }) {
  const loadgen = await loadgenBin();
  const tail = await newPage(browser);
  await tail.page.goto(`${server.http}/tail`);
  await tail.page.waitForSelector('[data-testid=tail-state]:text("live")');
  const overview = await newPage(browser);
  await overview.page.goto(`${server.http}/?window=5m`);
  await overview.page.waitForSelector("[data-testid=services]");

  // Record every gap between animation frames on the tail page.
  await tail.page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__gaps = [];
    let last = performance.now();
    const loop = (t) => {
      w.__gaps.push(t - last);
      last = t;
      if (!w.__stopGaps) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
    // The tail's newest row against the clock, while not paused: how far
    // the page is behind the records' own times.
    // A second stream, read without rendering: how far the server's live
    // feed itself is behind, so the page's own share of the lag shows.
    w.__feedLags = [];
    w.__feed = new EventSource("/api/v1/tail?rate=1000");
    w.__feed.addEventListener("logs", (ev) => {
      const d = JSON.parse(ev.data);
      let newest = 0;
      for (const e of d.logs) newest = Math.max(newest, Date.parse(e.time));
      if (newest > 0) w.__feedLags.push(Date.now() - newest);
    });
    w.__lags = [];
    w.__lagTimer = setInterval(() => {
      if (document.querySelector("[data-testid=pause]")?.textContent !== "Pause") return;
      const t = document.querySelector("[data-testid=tail-rows] [data-time]")?.getAttribute("data-time");
      if (t) w.__lags.push(Date.now() - Date.parse(t));
    }, 100);
  });

  const before = await api(server, "/api/v1/status");
  const started = Date.now();
  const procs = services.map((svc, i) =>
    spawn(loadgen, ["--target", server.grpcAddr, "--service", svc, "--rate", String(rate), "--duration", duration, "--seed", String(i + 1)], { stdio: ["ignore", "pipe", "pipe"] }),
  );
  const outputs = procs.map((p) => {
    let s = "";
    p.stdout.on("data", (b) => (s += b));
    p.stderr.on("data", (b) => (s += b));
    return () => s;
  });
  const exits = procs.map((p) => once(p, "exit"));
  let running = true;
  void Promise.all(exits).then(() => (running = false));

  const clicks = [];
  const storeLag = [];
  let maxSkipped = 0;
  let shot = false;
  const pause = tail.page.locator("[data-testid=pause]");
  while (running) {
    // Click-to-update: pause and resume, each time until the label flips.
    for (const want of ["Resume", "Pause"]) {
      const t0 = Date.now();
      await pause.click();
      await tail.page.waitForFunction((w) => document.querySelector("[data-testid=pause]")?.textContent === w, want, { polling: "raf" });
      clicks.push(Date.now() - t0);
    }
    const st = await api(server, "/api/v1/status");
    storeLag.push(st.ingested_records - st.stored_records);
    const skipped = Number((await tail.page.getAttribute("[data-testid=sampling-notice]", "data-skipped")) ?? 0);
    maxSkipped = Math.max(maxSkipped, skipped);
    if (!shot && Date.now() - started > 2000) {
      shot = true;
      await screenshot(tail.page, `${shots}-tail`);
      await screenshot(overview.page, `${shots}-overview`);
    }
    await sleep(150);
  }
  const ingestDone = Date.now();
  // Ingest is over: stop sampling the lag (an idle tail only ages).
  await tail.page.evaluate(() => {
    const w = /** @type {any} */ (window);
    clearInterval(w.__lagTimer);
    w.__feed.close();
  });
  const codes = (await Promise.all(exits)).map(([code]) => code);
  // Time until every ingested record is stored (searchable).
  let caughtUp = NaN;
  for (const deadline = Date.now() + 180_000; Date.now() < deadline; ) {
    const st = await api(server, "/api/v1/status");
    if (st.stored_records >= st.ingested_records && st.queue_batches === 0) {
      caughtUp = Date.now() - ingestDone;
      break;
    }
    await sleep(100);
  }
  await sleep(1500); // let the overview show the end of the burst
  await screenshot(overview.page, `${shots}-overview-after`);
  const { gaps, lags, feedLags } = await tail.page.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__stopGaps = true;
    clearInterval(w.__lagTimer);
    return { gaps: /** @type {number[]} */ (w.__gaps).slice(1), lags: /** @type {number[]} */ (w.__lags), feedLags: /** @type {number[]} */ (w.__feedLags) };
  });
  const after = await api(server, "/api/v1/status");
  const rows = await tail.page.locator("[data-testid=tail-rows] [data-testid=log-row]").count();
  const result = {
    rate,
    duration,
    services: services.length,
    loadgenExit: codes,
    loadgen: outputs.map((o) => o().trim()),
    ingested: after.ingested_records - before.ingested_records,
    ingestSeconds: (ingestDone - started) / 1000,
    tailLagMs: summary(lags),
    feedLagMs: summary(feedLags),
    clickToUpdateMs: summary(clicks),
    frameGapMs: summary(gaps),
    storeLagRecords: summary(storeLag),
    storeCaughtUpMsAfterIngest: caughtUp,
    skippedByServer: maxSkipped,
    tailRows: rows,
    pageErrors: [...tail.events.errors, ...overview.events.errors],
  };
  await tail.context.close();
  await overview.context.close();
  return result;
}
