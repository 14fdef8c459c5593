// Overview: logs/s per service and per level over a window (history from
// /api/v1/stats, the last seconds live from /api/v1/live, redrawn every
// second), the services with last-seen time and current rate, and the
// ingest pipeline's health from /api/v1/status.

import { get, isAbort, errorText, type Live, type Service, type Stats, type Status } from "../api";
import { TimeChart } from "../charts";
import { bidiSafe, h, replace, text, val } from "../dom";
import { serviceDatalist } from "../filters";
import { ago, bytes, levelColor, LEVELS, num, rate, serviceColor } from "../format";
import type { Ctx, View } from "../view";

interface Win {
  key: string;
  label: string;
  seconds: number;
  step: number; // bucket width, seconds
  statsEvery: number; // how often history is re-read, ms
}

const fiveMinutes: Win = { key: "5m", label: "5 min", seconds: 300, step: 1, statsEvery: 5000 };
const windows: Win[] = [
  fiveMinutes,
  { key: "1h", label: "1 hour", seconds: 3600, step: 10, statsEvery: 15000 },
  { key: "24h", label: "24 hours", seconds: 86400, step: 300, statsEvery: 60000 },
];

/** counts per bucket start (unix s), per series name */
type Counts = Map<number, Map<string, number>>;

function add(c: Counts, t: number, key: string, n: number): void {
  let m = c.get(t);
  if (!m) c.set(t, (m = new Map<string, number>()));
  m.set(key, (m.get(key) ?? 0) + n);
}

/** RATE_SECONDS is the span the "current rate" averages over. */
const RATE_SECONDS = 5;

export function overview(ctx: Ctx): View {
  const win = windows.find((w) => w.key === ctx.url.searchParams.get("window")) ?? fiveMinutes;
  const abort = new AbortController();
  let timer = 0;
  const disposed = (): boolean => abort.signal.aborted;

  const byService = new TimeChart({ height: 220, yFormat: rate, testid: "chart-services" });
  const byLevel = new TimeChart({ height: 220, yFormat: rate, testid: "chart-levels" });
  const healthChart = new TimeChart({ height: 160, yFormat: rate, testid: "chart-health" });

  const tile = (label: string, cls: string, testid: string): [HTMLElement, HTMLElement, HTMLElement] => {
    const v = h("div", { class: "tile-value", "data-testid": testid }, "–");
    const sub = h("div", { class: "tile-sub" });
    return [h("div", { class: `tile ${cls}` }, h("div", { class: "tile-label" }, label), v, sub), v, sub];
  };
  const [tTotal, vTotal, sTotal] = tile("Logs / s", "", "rate-total");
  const [tErr, vErr, sErr] = tile("Errors / s", "tile-error", "rate-error");
  const [tWarn, vWarn, sWarn] = tile("Warnings / s", "tile-warn", "rate-warn");
  const [tLag, vLag, sLag] = tile("Store lag", "", "store-lag");

  const servicesBody = h("tbody");
  const healthList = h("dl", { class: "health", "data-testid": "health" });
  const errLine = h("div", { class: "error-banner", role: "alert" });
  const updated = h("span", { class: "muted", "data-testid": "updated" });

  const el = h(
    "section",
    { class: "overview", "data-testid": "view-overview" },
    h(
      "div",
      { class: "toolbar" },
      h("h1", null, "Overview"),
      h(
        "div",
        { class: "seg", role: "group", "aria-label": "Window" },
        windows.map((w) =>
          h("a", { href: `/?window=${w.key}`, class: w === win ? "active" : "", "aria-pressed": w === win ? "true" : "false", "data-testid": `window-${w.key}` }, `Last ${w.label}`),
        ),
      ),
      updated,
    ),
    errLine,
    h("div", { class: "tiles" }, tTotal, tErr, tWarn, tLag),
    h(
      "div",
      { class: "grid2" },
      h("div", { class: "panel" }, h("h2", null, "Logs / s by service"), byService.el),
      h("div", { class: "panel" }, h("h2", null, "Logs / s by level"), byLevel.el),
    ),
    h(
      "div",
      { class: "grid2" },
      h(
        "div",
        { class: "panel" },
        h("h2", null, "Services"),
        h(
          "table",
          { class: "table services", "data-testid": "services" },
          h("thead", null, h("tr", null, h("th", null, "Service"), h("th", { class: "num" }, "Now"), h("th", { class: "num" }, "Errors"), h("th", { class: "num" }, "Warnings"), h("th", null, "Last seen"), h("th", { class: "num" }, "Stored"), h("th", null, ""))),
          servicesBody,
        ),
      ),
      h("div", { class: "panel" }, h("h2", null, "Ingest health"), healthList, h("h3", null, "Ingested vs stored (since this page opened)"), healthChart.el),
    ),
  );

  let stats: Stats | null = null;
  let statsAt = 0;
  let services: Service[] = [];
  let servicesAt = 0;
  const statusHist: { t: number; s: Status }[] = [];
  const healthXs: number[] = [];
  const healthIn: number[] = [];
  const healthStored: number[] = [];

  async function tick(): Promise<void> {
    const now = Date.now();
    const jobs: Promise<unknown>[] = [];
    const liveP = get<Live>("/api/v1/live", new URLSearchParams({ seconds: String(Math.min(300, win.seconds)) }), abort.signal);
    const statusP = get<Status>("/api/v1/status", undefined, abort.signal);
    jobs.push(liveP, statusP);
    if (!stats || now - statsAt >= win.statsEvery) {
      jobs.push(
        get<Stats>("/api/v1/stats", new URLSearchParams({ from: `-${win.key}`, step: `${win.step}s` }), abort.signal).then((s) => {
          stats = s;
          statsAt = now;
        }),
      );
    }
    if (now - servicesAt >= 2000) {
      jobs.push(
        get<{ services: Service[] }>("/api/v1/services", undefined, abort.signal).then((s) => {
          services = s.services;
          servicesAt = now;
          serviceDatalist(services.map((x) => x.name));
        }),
      );
    }
    await Promise.all(jobs);
    const live = await liveP;
    const status = await statusP;
    draw(live, status);
  }

  function draw(live: Live, status: Status): void {
    const step = win.step;
    const nowS = live.now;
    const points = live.points ?? [];
    // Current rates from the live counts of the last complete seconds.
    const cur = new Map<string, { total: number; error: number; warn: number }>();
    const lastLive = new Map<string, number>();
    let total = 0,
      errs = 0,
      warns = 0;
    for (const p of points) {
      let n = 0;
      for (const v of Object.values(p.levels)) n += v;
      if (n > 0) lastLive.set(p.service, Math.max(lastLive.get(p.service) ?? 0, p.second));
      if (p.second < nowS - RATE_SECONDS || p.second >= nowS) continue;
      const e = (p.levels.error ?? 0) + (p.levels.fatal ?? 0);
      const w = p.levels.warn ?? 0;
      const c = cur.get(p.service) ?? { total: 0, error: 0, warn: 0 };
      c.total += n;
      c.error += e;
      c.warn += w;
      cur.set(p.service, c);
      total += n;
      errs += e;
      warns += w;
    }
    text(vTotal, rate(total / RATE_SECONDS));
    text(vErr, rate(errs / RATE_SECONDS));
    text(vWarn, rate(warns / RATE_SECONDS));
    tErr.classList.toggle("hot", errs > 0);
    tWarn.classList.toggle("hot", warns > 0);
    text(sTotal, `average of the last ${RATE_SECONDS} s`);
    text(sErr, errs > 0 ? `${num(errs)} in the last ${RATE_SECONDS} s` : "none lately");
    text(sWarn, warns > 0 ? `${num(warns)} in the last ${RATE_SECONDS} s` : "none lately");

    // History (stats) merged with the live seconds: per bucket the larger
    // count wins (the store lags the live feed during bursts).
    const first = Math.floor((nowS - win.seconds) / step) * step;
    const lastBucket = step === 1 ? nowS - 1 : Math.floor(nowS / step) * step;
    const svcStats: Counts = new Map();
    const lvlStats: Counts = new Map();
    const svcLive: Counts = new Map();
    const lvlLive: Counts = new Map();
    const names = new Set<string>();
    const levelsSeen = new Set<string>();
    for (const b of stats?.buckets ?? []) {
      const t = Math.floor(Date.parse(b.start) / 1000 / step) * step;
      add(svcStats, t, b.service, b.count);
      add(lvlStats, t, b.level, b.count);
      names.add(b.service);
      levelsSeen.add(b.level);
    }
    for (const p of points) {
      const t = Math.floor(p.second / step) * step;
      for (const [lvl, n] of Object.entries(p.levels)) {
        add(svcLive, t, p.service, n);
        add(lvlLive, t, lvl, n);
        levelsSeen.add(lvl);
      }
      names.add(p.service);
    }
    const xs: number[] = [];
    for (let t = first; t <= lastBucket; t += step) xs.push(t);
    const series = (keys: string[], s: Counts, l: Counts): number[][] =>
      keys.map((k) =>
        xs.map((t) => {
          const n = Math.max(s.get(t)?.get(k) ?? 0, l.get(t)?.get(k) ?? 0);
          const span = t + step > nowS ? Math.max(1, nowS - t) : step; // partial current bucket
          return n / span;
        }),
      );
    const svcNames = [...names].sort();
    byService.setData(
      svcNames.map((n) => ({ label: bidiSafe(n), color: serviceColor(n) })),
      xs,
      series(svcNames, svcStats, svcLive),
    );
    const lvls = LEVELS.filter((l) => levelsSeen.has(l) || l === "error" || l === "warn" || l === "info");
    byLevel.setData(
      lvls.map((l) => ({ label: l, color: levelColor[l] ?? "#888", fill: l === "error" || l === "warn" || l === "fatal" })),
      xs,
      series(lvls, lvlStats, lvlLive),
    );

    // Services: stored list merged with live names.
    const all = new Map<string, Service>();
    for (const s of services) all.set(s.name, s);
    for (const n of lastLive.keys()) if (!all.has(n)) all.set(n, { name: n, rate_per_second: 0, total: 0 });
    const rows = [...all.values()].sort((a, b) => (cur.get(b.name)?.total ?? 0) - (cur.get(a.name)?.total ?? 0) || a.name.localeCompare(b.name));
    const nowMs = nowS * 1000;
    replace(
      servicesBody,
      rows.length === 0
        ? h("tr", null, h("td", { class: "muted" }, "No logs yet. Point a service's logger at this server's gRPC address."))
        : rows.map((s) => {
            const c = cur.get(s.name) ?? { total: 0, error: 0, warn: 0 };
            const liveSeen = lastLive.get(s.name);
            const stored = s.last_seen ? Date.parse(s.last_seen) : 0;
            const seen = liveSeen && liveSeen * 1000 > stored ? new Date(liveSeen * 1000).toISOString() : s.last_seen;
            const q = new URLSearchParams({ service: s.name }).toString();
            return h(
              "tr",
              { "data-testid": "service-row" },
              h("td", null, h("span", { class: "dot", title: bidiSafe(s.name) }), h("a", { href: `/search?${q}` }, val(s.name))),
              h("td", { class: "num" }, rate(c.total / RATE_SECONDS)),
              h("td", { class: `num${c.error > 0 ? " bad" : ""}` }, rate(c.error / RATE_SECONDS)),
              h("td", { class: `num${c.warn > 0 ? " warnc" : ""}` }, rate(c.warn / RATE_SECONDS)),
              h("td", { title: seen ?? "" }, ago(seen, Math.max(nowMs, Date.now()))),
              h("td", { class: "num" }, num(s.total)),
              h("td", { class: "actions" }, h("a", { href: `/recent?${q}` }, "recent"), h("a", { href: `/tail?${q}` }, "tail"), h("a", { href: `/search?${q}` }, "search")),
            );
          }),
    );
    for (const dot of servicesBody.querySelectorAll<HTMLElement>(".dot")) dot.style.background = serviceColor(dot.title);

    // Health.
    const t = Date.now();
    statusHist.push({ t, s: status });
    while (statusHist.length > 0 && (statusHist[0]?.t ?? t) < t - 310_000) statusHist.shift();
    const prev = statusHist.find((x) => x.t >= t - RATE_SECONDS * 1000 - 500) ?? statusHist[0];
    const dt = prev && prev.t < t ? (t - prev.t) / 1000 : 0;
    const inRate = dt > 0 && prev ? Math.max(0, status.ingested_records - prev.s.ingested_records) / dt : 0;
    const storeRate = dt > 0 && prev ? Math.max(0, status.stored_records - prev.s.stored_records) / dt : 0;
    const lagRecs = Math.max(0, status.ingested_records - status.stored_records);
    const lagSecs = lagRecs === 0 ? 0 : storeRate > 0 ? lagRecs / storeRate : Infinity;
    text(vLag, lagRecs === 0 ? "0" : num(lagRecs));
    text(sLag, lagRecs === 0 ? "store is caught up" : Number.isFinite(lagSecs) ? `records not yet searchable (≈ ${lagSecs.toFixed(1)} s)` : "records not yet searchable");
    tLag.classList.toggle("hot-warn", lagRecs > 0 && (lagSecs > 5 || !Number.isFinite(lagSecs)));
    const prevSample = statusHist.length >= 2 ? statusHist[statusHist.length - 2] : undefined;
    if (prevSample) {
      const d = (t - prevSample.t) / 1000;
      healthXs.push(t / 1000);
      healthIn.push(Math.max(0, status.ingested_records - prevSample.s.ingested_records) / d);
      healthStored.push(Math.max(0, status.stored_records - prevSample.s.stored_records) / d);
      while (healthXs.length > 300) {
        healthXs.shift();
        healthIn.shift();
        healthStored.shift();
      }
      healthChart.setData([{ label: "ingested", color: "#38bdf8" }, { label: "stored", color: "#a3e635" }], healthXs, [healthIn, healthStored]);
    }
    const item = (k: string, v: string, cls = "", testid = ""): HTMLElement[] => [h("dt", null, k), h("dd", { class: cls, "data-testid": testid || undefined }, v)];
    replace(
      healthList,
      item("Mode", status.mode || "–"),
      item("Ingest rate", rate(inRate), "", "ingest-rate"),
      item("Store rate", rate(storeRate), "", "store-rate"),
      item("Queue depth", `${num(status.queue_batches)} batches · ${bytes(status.queue_bytes)}`, status.queue_batches > 100 ? "warnc" : "", "queue-depth"),
      item("Ingested", num(status.ingested_records), "", "ingested"),
      item("Stored", num(status.stored_records), "", "stored"),
      item("Rejected", num(status.rejected_records), status.rejected_records > 0 ? "bad" : "", "rejected"),
      item("Refused (retry)", num(status.refused_records), status.refused_records > 0 ? "warnc" : "", "refused"),
      ...(status.disk_refusing ? item("Disk", status.disk_refusing, "bad", "disk-refusing") : []),
      item("Live dropped", `${num(status.live_dropped_batches)} batches`, status.live_dropped_batches > 0 ? "warnc" : "", "live-dropped"),
    );
    text(updated, `updated ${new Date().toLocaleTimeString()}`);
  }

  async function loop(): Promise<void> {
    if (disposed()) return;
    const started = Date.now();
    try {
      await tick();
      text(errLine, "");
      errLine.hidden = true;
    } catch (e) {
      if (isAbort(e) || disposed()) return;
      errLine.hidden = false;
      text(errLine, `Cannot reach the server: ${errorText(e)}`);
    }
    if (!disposed()) timer = window.setTimeout(() => void loop(), Math.max(100, 1000 - (Date.now() - started)));
  }
  errLine.hidden = true;
  void loop();

  return {
    el,
    dispose() {
      abort.abort();
      clearTimeout(timer);
      byService.destroy();
      byLevel.destroy();
      healthChart.destroy();
    },
  };
}
