// Live tail: records as they arrive, over Server-Sent Events from
// /api/v1/tail with the shared filters. The page never freezes: the server
// samples above the chosen rate (and says how many it skipped), incoming
// records are only queued by the event handler, the DOM is updated at most
// once per animation frame, and the list is capped. The tail shows each batch
// at most once; when records may be missing (the server's live view lost
// them, or the stream moved to another replica when a server stopped) a
// gap notice says when, and how many when known, with a link to search them.

import { get, tailURL, type Entry, type TailEvent, type TailGap } from "../api";
import { h, replace, text } from "../dom";
import { FilterBar, filterFromURL, filterParams, type Filter } from "../filters";
import { clock, num } from "../format";
import { logRow } from "../logrow";
import type { Ctx, View } from "../view";

/** MAX_ROWS bounds the rows kept on the page. */
export const MAX_ROWS = 500;
const rates = [100, 1000, 5000];

export function tail(ctx: Ctx): View {
  let filter: Filter = filterFromURL(ctx.url.searchParams);
  let maxRate = Number(ctx.url.searchParams.get("rate")) || 1000;
  let es: EventSource | null = null;
  let retry = 0;
  let paused = false;
  let frame = 0;
  let disposed = false;

  let pending: Entry[] = []; // waiting for the next frame, oldest first
  let held: Entry[] = []; // arrived while paused
  let heldCount = 0;
  let received = 0;
  let skipped = 0;
  let dropped = 0; // arrived faster than frames could show them
  const recentSkips: { t: number; n: number; got: number }[] = [];
  // Gaps so far, merged: earliest start, latest end, known missed records.
  let gap: { from: string; to: string; missed: number; unknown: boolean; reason: string; count: number } | null = null;
  let closingAt = ""; // when the server said it was stopping (ISO), until the stream is back

  const list = h("div", { class: "rows tail-rows", "data-testid": "tail-rows", "aria-live": "off" });
  const state = h("span", { class: "pill", "data-testid": "tail-state" }, "connecting");
  const counts = h("span", { class: "muted", "data-testid": "tail-counts" });
  const notice = h("div", { class: "notice", "data-testid": "sampling-notice", role: "status" });
  notice.hidden = true;
  const gapNotice = h("div", { class: "notice", "data-testid": "gap-notice", role: "status" });
  gapNotice.hidden = true;
  const pausedNote = h("span", { class: "muted", "data-testid": "paused-note" });
  const pauseBtn = h("button", { type: "button", class: "primary", "data-testid": "pause", onclick: () => { togglePause(); } }, "Pause");
  const clearBtn = h("button", { type: "button", onclick: () => { list.replaceChildren(); } }, "Clear");
  const rateSel = h(
    "select",
    {
      "aria-label": "Most records per second",
      title: "Above this rate the server samples the stream",
      onchange: () => {
        maxRate = Number(rateSel.value);
        syncURL();
        connect();
      },
    },
    rates.map((r) => h("option", { value: String(r), selected: r === maxRate }, `≤ ${num(r)}/s`)),
  );
  const empty = h("div", { class: "empty-rows", "data-testid": "tail-empty" }, "Waiting for logs…");

  const bar = new FilterBar(filter, (f) => {
    filter = f;
    syncURL();
    list.replaceChildren(empty);
    connect();
  }, h("label", null, h("span", null, "Rate"), rateSel));

  const el = h(
    "section",
    { class: "tail", "data-testid": "view-tail" },
    h("div", { class: "toolbar" }, h("h1", null, "Live tail"), state, pauseBtn, clearBtn, pausedNote, counts),
    bar.el,
    gapNotice,
    notice,
    list,
  );
  list.appendChild(empty);

  function syncURL(): void {
    const p = filterParams(filter);
    if (maxRate !== 1000) p.set("rate", String(maxRate));
    ctx.setQuery(p);
  }

  function connect(): void {
    es?.close();
    pending = [];
    const p = filterParams(filter);
    p.set("rate", String(maxRate));
    const src = new EventSource(tailURL(p));
    es = src;
    state.className = "pill";
    text(state, "connecting");
    src.onopen = () => {
      retry = 0;
      state.className = "pill ok";
      text(state, paused ? "paused" : "live");
      if (closingAt) {
        // The stream moved (to another replica): what arrived meanwhile is not in this tail.
        addGap({ from: closingAt, to: new Date().toISOString(), missed_records: null, reason: "the server stopped and the tail reconnected" });
        closingAt = "";
      }
    };
    src.addEventListener("gap", (ev: MessageEvent<string>) => {
      try {
        addGap(JSON.parse(ev.data) as TailGap);
      } catch {
        return;
      }
    });
    src.addEventListener("closing", () => {
      // The server is stopping; EventSource reconnects by itself.
      closingAt = new Date().toISOString();
      state.className = "pill";
      text(state, "reconnecting");
    });
    src.addEventListener("logs", (ev: MessageEvent<string>) => {
      let data: TailEvent;
      try {
        data = JSON.parse(ev.data) as TailEvent;
      } catch {
        return;
      }
      onBatch(data);
    });
    src.onerror = () => {
      if (es !== src || disposed) return;
      state.className = "pill bad";
      text(state, "disconnected");
      if (src.readyState === EventSource.CLOSED) {
        // A refused stream (bad filter, missing token): ask the API why.
        get("/api/v1/logs/count", filterParams(filter))
          .then(() => {
            if (es === src && !disposed) setTimeout(connect, Math.min(10000, 500 * 2 ** retry++));
          })
          .catch((e: unknown) => {
            bar.showError(e instanceof Error ? e.message : String(e));
          });
      }
    };
  }

  function addGap(g: TailGap): void {
    if (!gap) {
      gap = { from: g.from, to: g.to, missed: 0, unknown: false, reason: g.reason, count: 0 };
    } else {
      if (Date.parse(g.from) < Date.parse(gap.from)) gap.from = g.from;
      if (Date.parse(g.to) > Date.parse(gap.to)) gap.to = g.to;
      gap.reason = g.reason;
    }
    gap.count++;
    if (g.missed_records === null) gap.unknown = true;
    else gap.missed += g.missed_records;
    renderGap();
  }

  function renderGap(): void {
    if (!gap) return;
    const p = filterParams(filter);
    // Search the span with a second of margin on each side.
    p.set("from", new Date(Date.parse(gap.from) - 1000).toISOString());
    p.set("to", new Date(Date.parse(gap.to) + 1000).toISOString());
    gapNotice.hidden = false;
    replace(
      gapNotice,
      h("strong", null, "Gap: "),
      gap.unknown ? (gap.missed > 0 ? `at least ${num(gap.missed)} logs` : "an unknown number of logs") : `${num(gap.missed)} logs`,
      ` may be missing from this tail between ${clock(gap.from)} and ${clock(gap.to)}`,
      ` (${gap.reason}${gap.count > 1 ? `; ${num(gap.count)} gaps so far` : ""}). They are stored: `,
      h("a", { href: `/search?${p.toString()}`, "data-testid": "gap-search" }, "search that time range"),
      ".",
    );
    gapNotice.dataset.unknown = gap.unknown ? "true" : "false";
    gapNotice.dataset.missed = String(gap.missed);
  }

  function onBatch(d: TailEvent): void {
    d.logs.sort(byTime);
    const n = d.logs.length;
    received += n;
    skipped += d.skipped;
    const now = Date.now();
    recentSkips.push({ t: now, n: d.skipped, got: n });
    while (recentSkips.length > 0 && (recentSkips[0]?.t ?? now) < now - 10_000) recentSkips.shift();
    if (paused) {
      heldCount += n;
      held.push(...d.logs);
      if (held.length > MAX_ROWS) held = held.slice(held.length - MAX_ROWS);
    } else {
      pending.push(...d.logs);
      if (pending.length > MAX_ROWS) {
        dropped += pending.length - MAX_ROWS;
        pending = pending.slice(pending.length - MAX_ROWS);
      }
    }
    schedule();
  }

  function schedule(): void {
    if (!frame && !disposed) frame = requestAnimationFrame(flush);
  }

  function flush(): void {
    frame = 0;
    if (pending.length > 0) {
      const frag = document.createDocumentFragment();
      for (let i = pending.length - 1; i >= 0; i--) {
        const e = pending[i];
        if (e) frag.appendChild(logRow(e));
      }
      pending = [];
      if (empty.parentNode) empty.remove();
      list.prepend(frag);
      let extra = list.childElementCount - MAX_ROWS;
      while (extra-- > 0 && list.lastElementChild) list.lastElementChild.remove();
    }
    text(counts, `${num(received)} received · ${num(list.childElementCount)} shown`);
    let s10 = 0,
      g10 = 0;
    for (const r of recentSkips) {
      s10 += r.n;
      g10 += r.got;
    }
    if (skipped > 0 || dropped > 0) {
      notice.hidden = false;
      replace(
        notice,
        h("strong", null, "Sampled: "),
        `the server skipped ${num(skipped)} logs so far`,
        s10 > 0 ? ` (${num(s10)} of ${num(s10 + g10)} in the last 10 s)` : "",
        ` to stay under ${num(maxRate)} logs/s for this page`,
        dropped > 0 ? `; ${num(dropped)} more arrived faster than the screen could show` : "",
        ". Narrow the filters, or use Search to see every log.",
      );
      notice.dataset.skipped = String(skipped);
    }
    text(pausedNote, paused ? `paused · ${num(heldCount)} new since` : "");
  }

  function togglePause(): void {
    paused = !paused;
    text(pauseBtn, paused ? "Resume" : "Pause");
    pauseBtn.setAttribute("aria-pressed", paused ? "true" : "false");
    text(state, paused ? "paused" : es?.readyState === EventSource.OPEN ? "live" : state.textContent);
    if (!paused) {
      pending.push(...held);
      held = [];
      heldCount = 0;
    }
    schedule();
  }

  connect();
  return {
    el,
    dispose() {
      disposed = true;
      es?.close();
      es = null;
      if (frame) cancelAnimationFrame(frame);
    },
  };
}

/** byTime orders entries oldest first (unix nanos as decimal strings). */
function byTime(a: Entry, b: Entry): number {
  const x = a.time_unix_nano,
    y = b.time_unix_nano;
  return x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);
}
