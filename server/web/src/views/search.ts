// Search: a time range (relative or absolute) and the shared filters,
// newest first, paginated by cursor, with the count of matches, a histogram
// of matches over time and an NDJSON export of every result.

import { get, isAbort, errorText, type Entry, type Page, type Stats } from "../api";
import { TimeChart } from "../charts";
import { h, replace, text } from "../dom";
import { FilterBar, filterFromURL, filterParams, type Filter } from "../filters";
import { levelColor, LEVELS, num, toLocalInput } from "../format";
import { logRow } from "../logrow";
import type { Ctx, View } from "../view";

const presets = ["5m", "15m", "1h", "6h", "24h", "7d"];
const DEFAULT_FROM = "-1h";
/** EXPORT_MAX bounds one export. */
const EXPORT_MAX = 100_000;
const PAGE_SIZES = [50, 100, 500, 1000];

interface Query {
  filter: Filter;
  from: string;
  to: string;
  limit: number;
  cursor: string;
}

function queryFromURL(p: URLSearchParams): Query {
  const limit = Number(p.get("limit"));
  return {
    filter: filterFromURL(p),
    from: p.get("from") ?? DEFAULT_FROM,
    to: p.get("to") ?? "",
    limit: PAGE_SIZES.includes(limit) ? limit : 100,
    cursor: p.get("cursor") ?? "",
  };
}

function queryParams(q: Query, withPage = true): URLSearchParams {
  const p = filterParams(q.filter);
  if (q.from) p.set("from", q.from);
  if (q.to) p.set("to", q.to);
  if (withPage) {
    if (q.limit !== 100) p.set("limit", String(q.limit));
    if (q.cursor) p.set("cursor", q.cursor);
  }
  return p;
}

/** describeRange says in words what from/to mean. */
function describeRange(from: string, to: string): string {
  const f = from.startsWith("-") ? `last ${from.slice(1)}` : from ? new Date(from).toLocaleString() : "the beginning";
  if (!to) return from.startsWith("-") ? f : `${f} → now`;
  return `${f} → ${to.startsWith("-") ? `${to.slice(1)} ago` : new Date(to).toLocaleString()}`;
}

export function search(ctx: Ctx): View {
  let q = queryFromURL(ctx.url.searchParams);
  const prevCursors: string[] = [];
  // The page of rows and the totals (count, histogram) load apart.
  let pageAbort = new AbortController();
  let totalsAbort = new AbortController();
  /** totalsKey is the search (without page) whose count and histogram are shown or loading. */
  let totalsKey: string | null = null;
  let exportAbort: AbortController | null = null;

  const results = h("div", { class: "rows", "data-testid": "search-rows" });
  const countEl = h("span", { class: "count", "data-testid": "search-count", "aria-live": "polite" });
  const histStatus = h("span", { class: "muted small hist-status", "data-testid": "search-histogram-status", "aria-live": "polite" });
  const rangeEl = h("span", { class: "muted", "data-testid": "search-range" });
  const errEl = h("div", { class: "error-banner", role: "alert", "data-testid": "search-error" });
  errEl.hidden = true;
  const pager = h("div", { class: "pager" });
  const exportStatus = h("span", { class: "muted", "data-testid": "export-status" });
  const hist = new TimeChart({
    height: 140,
    bars: true,
    yFormat: (v) => (Number.isInteger(v) ? num(v) : ""),
    testid: "search-histogram",
    onSelect: (a, b) => {
      run({ ...q, from: new Date(a * 1000).toISOString(), to: new Date(b * 1000).toISOString(), cursor: "" }, true);
    },
  });

  const fromIn = h("input", { type: "datetime-local", step: "1", "aria-label": "From", "data-testid": "range-from" });
  const toIn = h("input", { type: "datetime-local", step: "1", "aria-label": "To", "data-testid": "range-to" });
  const limitSel = h(
    "select",
    { "aria-label": "Page size", onchange: () => { run({ ...q, limit: Number(limitSel.value), cursor: "" }, true, true); } },
    PAGE_SIZES.map((n) => h("option", { value: String(n), selected: n === q.limit }, `${n} / page`)),
  );
  const presetBar = h("div", { class: "seg", role: "group", "aria-label": "Relative range" });

  const bar = new FilterBar(q.filter, (f) => {
    run({ ...q, filter: f, cursor: "" }, true);
  });

  const el = h(
    "section",
    { class: "search", "data-testid": "view-search" },
    h("div", { class: "toolbar" }, h("h1", null, "Search"), countEl, rangeEl),
    h(
      "div",
      { class: "range" },
      presetBar,
      h(
        "form",
        {
          class: "abs",
          "data-testid": "range-form",
          onsubmit: (e) => {
            e.preventDefault();
            const from = fromIn.value ? new Date(fromIn.value).toISOString() : "";
            const to = toIn.value ? new Date(toIn.value).toISOString() : "";
            run({ ...q, from, to, cursor: "" }, true);
          },
        },
        h("label", null, h("span", null, "From"), fromIn),
        h("label", null, h("span", null, "To"), toIn),
        h("button", { type: "submit", "data-testid": "range-apply" }, "Set range"),
      ),
    ),
    bar.el,
    errEl,
    h("div", { class: "panel" }, h("h2", null, "Matches over time ", h("span", { class: "muted small" }, "(drag to zoom)"), " ", histStatus), hist.el),
    h(
      "div",
      { class: "toolbar" },
      pager,
      limitSel,
      h("button", { type: "button", "data-testid": "export", onclick: () => void exportNDJSON() }, "Export NDJSON"),
      exportStatus,
    ),
    results,
  );

  function renderRangeControls(): void {
    replace(
      presetBar,
      presets.map((p) =>
        h("button", { type: "button", class: q.from === `-${p}` && !q.to ? "active" : "", "data-testid": `preset-${p}`, onclick: () => { run({ ...q, from: `-${p}`, to: "", cursor: "" }, true); } }, p),
      ),
    );
    const abs = (s: string): string => (s && !s.startsWith("-") && !Number.isNaN(Date.parse(s)) ? toLocalInput(new Date(s)) : "");
    fromIn.value = abs(q.from);
    toIn.value = abs(q.to);
    text(rangeEl, describeRange(q.from, q.to));
  }

  /** run opens search next; keepTotals keeps the count and histogram when its filters and range are the same (another page size). */
  function run(next: Query, push: boolean, keepTotals = false): void {
    if (next.cursor === "") prevCursors.length = 0;
    q = next;
    ctx.setQuery(queryParams(q), push);
    load(keepTotals);
  }

  /**
   * load fetches the page of rows, and the count and histogram of the
   * search, as independent requests: rows render as soon as they arrive
   * (on a big store the count and histogram scan every candidate block,
   * seconds, while a page takes milliseconds); the count and histogram
   * show "loading" until their own answer. A new search aborts every
   * request of the previous one, and an answer is applied only while its
   * search is current, so a late answer never overwrites a newer search.
   * The count and histogram do not depend on the page, so with
   * keepTotals (paging, another page size) they are kept when the filters
   * and range are those they were asked for, and not scanned again.
   */
  function load(keepTotals: boolean): void {
    const base = queryParams(q, false);
    const key = base.toString();
    renderRangeControls();
    void loadPage(base);
    if (!keepTotals || key !== totalsKey) {
      totalsKey = key;
      loadTotals(base);
    }
  }

  async function loadPage(base: URLSearchParams): Promise<void> {
    pageAbort.abort();
    const ac = (pageAbort = new AbortController());
    errEl.hidden = true;
    results.classList.add("loading");
    results.dataset.state = "loading";
    const pageP = new URLSearchParams(base);
    pageP.set("limit", String(q.limit));
    if (q.cursor) pageP.set("cursor", q.cursor);
    try {
      const page = await get<Page>("/api/v1/logs", pageP, ac.signal);
      if (ac.signal.aborted) return;
      replace(results, page.logs.length === 0 ? h("div", { class: "empty-rows" }, "No logs match.") : page.logs.map((e) => logRow(e, { fullDate: true })));
      renderPager(page);
      results.dataset.state = "loaded";
    } catch (e) {
      if (ac.signal.aborted || isAbort(e)) return;
      results.dataset.state = "error";
      errEl.hidden = false;
      text(errEl, errorText(e));
      replace(results);
    } finally {
      if (pageAbort === ac) results.classList.remove("loading");
    }
  }

  function loadTotals(base: URLSearchParams): void {
    totalsAbort.abort();
    const ac = (totalsAbort = new AbortController());
    void loadCount(base, ac.signal);
    void loadHistogram(base, ac.signal);
  }

  /** loadCount shows the count of matches; its error shows in its place (the rows stay). */
  async function loadCount(base: URLSearchParams, signal: AbortSignal): Promise<void> {
    countEl.dataset.state = "loading";
    countEl.classList.remove("failed");
    text(countEl, "counting…");
    try {
      const c = await get<{ count: number }>("/api/v1/logs/count", base, signal);
      if (signal.aborted) return;
      text(countEl, `${num(c.count)} ${c.count === 1 ? "match" : "matches"}`);
      countEl.dataset.state = "loaded";
    } catch (e) {
      if (signal.aborted || isAbort(e)) return;
      text(countEl, `count failed: ${errorText(e)}`);
      countEl.classList.add("failed");
      countEl.dataset.state = "error";
    }
  }

  /** loadHistogram draws the matches over time; while it loads the previous chart stays, dimmed. */
  async function loadHistogram(base: URLSearchParams, signal: AbortSignal): Promise<void> {
    hist.el.dataset.state = "loading";
    hist.el.classList.add("loading");
    histStatus.classList.remove("failed");
    text(histStatus, "loading…");
    try {
      const s = await get<Stats>("/api/v1/stats", base, signal);
      if (signal.aborted) return;
      drawHistogram(s);
      text(histStatus, "");
      hist.el.dataset.state = "loaded";
    } catch (e) {
      if (signal.aborted || isAbort(e)) return;
      text(histStatus, `histogram failed: ${errorText(e)}`);
      histStatus.classList.add("failed");
      hist.el.dataset.state = "error";
    } finally {
      if (!signal.aborted) hist.el.classList.remove("loading");
    }
  }

  function drawHistogram(s: Stats): void {
    const step = s.step_seconds || 1;
    const from = Math.floor(Date.parse(s.from) / 1000 / step) * step;
    const to = Date.parse(s.to) / 1000;
    const xs: number[] = [];
    for (let t = from; t < to; t += step) xs.push(t);
    const idx = new Map(xs.map((t, i) => [t, i]));
    const per = new Map<string, number[]>();
    let total = 0;
    for (const b of s.buckets) {
      const i = idx.get(Math.floor(Date.parse(b.start) / 1000 / step) * step);
      if (i === undefined) continue;
      total += b.count;
      let arr = per.get(b.level);
      if (!arr) per.set(b.level, (arr = xs.map(() => 0)));
      arr[i] = (arr[i] ?? 0) + b.count;
    }
    // The matches drawn, for tests and tools.
    hist.el.dataset.total = String(total);
    const lv = LEVELS.filter((l) => per.has(l));
    if (lv.length === 0) lv.push("info");
    hist.setData(
      lv.map((l) => ({ label: l, color: levelColor[l] ?? "#888" })),
      xs,
      lv.map((l) => per.get(l) ?? xs.map(() => 0)),
    );
  }

  function renderPager(page: Page): void {
    const n = prevCursors.length + 1;
    replace(
      pager,
      h("button", { type: "button", disabled: !q.cursor, "data-testid": "page-first", onclick: () => { run({ ...q, cursor: "" }, true); } }, "« Newest"),
      h(
        "button",
        {
          type: "button",
          disabled: prevCursors.length === 0,
          "data-testid": "page-prev",
          onclick: () => {
            const c = prevCursors.pop() ?? "";
            q = { ...q, cursor: c };
            ctx.setQuery(queryParams(q), true);
            load(true);
          },
        },
        "‹ Newer",
      ),
      h("span", { class: "muted", "data-testid": "page-number" }, q.cursor ? `page ${n}` : "page 1"),
      h(
        "button",
        {
          type: "button",
          disabled: !page.next_cursor,
          "data-testid": "page-next",
          onclick: () => {
            prevCursors.push(q.cursor);
            q = { ...q, cursor: page.next_cursor ?? "" };
            ctx.setQuery(queryParams(q), true);
            load(true);
          },
        },
        "Older ›",
      ),
    );
  }

  async function exportNDJSON(): Promise<void> {
    if (exportAbort) {
      exportAbort.abort();
      exportAbort = null;
      text(exportStatus, "export canceled");
      return;
    }
    const ac = new AbortController();
    exportAbort = ac;
    const chunks: string[] = [];
    let n = 0;
    let cursor = "";
    // Pin an open-ended range so every page sees the same window.
    const base = queryParams({ ...q, cursor: "" }, false);
    if (!q.to) base.set("to", new Date().toISOString());
    try {
      for (;;) {
        const p = new URLSearchParams(base);
        p.set("limit", "1000");
        if (cursor) p.set("cursor", cursor);
        const page = await get<Page>("/api/v1/logs", p, ac.signal);
        for (const e of page.logs) {
          chunks.push(JSON.stringify(e satisfies Entry) + "\n");
          n++;
        }
        text(exportStatus, `exporting… ${num(n)} logs (click again to cancel)`);
        if (!page.next_cursor || n >= EXPORT_MAX) break;
        cursor = page.next_cursor;
      }
      const blob = new Blob(chunks, { type: "application/x-ndjson" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `sawmill-${new Date().toISOString().replace(/[:.]/g, "-")}.ndjson`;
      a.dataset.count = String(n);
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => { URL.revokeObjectURL(a.href); }, 60_000);
      text(exportStatus, `exported ${num(n)} logs${n >= EXPORT_MAX ? ` (stopped at ${num(EXPORT_MAX)}; narrow the range for the rest)` : ""}`);
    } catch (e) {
      if (!isAbort(e)) text(exportStatus, `export failed: ${errorText(e)}`);
    } finally {
      if (exportAbort === ac) exportAbort = null;
    }
  }

  load(false);
  return {
    el,
    dispose() {
      pageAbort.abort();
      totalsAbort.abort();
      exportAbort?.abort();
      hist.destroy();
    },
  };
}
