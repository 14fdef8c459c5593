// One log line as a row: time, level, service, message and a short
// attribute summary. Everything from the log is set as text.

import type { Entry } from "./api";
import { h, val, type Child } from "./dom";
import { clock, dateTime } from "./format";

/** attrSummary renders the first few top-level attributes as key=value,
 * each key and value isolated (val). */
export function attrSummary(attrs: Record<string, unknown> | undefined, max = 4): Child[] {
  if (!attrs) return [];
  const out: Child[] = [];
  let n = 0;
  for (const [k, v] of Object.entries(attrs)) {
    if (n > 0) out.push("  ");
    if (n >= max) {
      out.push("…");
      break;
    }
    let s = typeof v === "string" ? v : JSON.stringify(v);
    if (s.length > 60) s = s.slice(0, 59) + "…";
    out.push(val(k), "=", val(s));
    n++;
  }
  return out;
}

export function levelBadge(level: string): HTMLElement {
  return h("span", { class: `lvl lvl-${level}`, "data-level": level }, level);
}

/** logRow renders e; clicking it opens the log's own page. */
export function logRow(e: Entry, opts: { fullDate?: boolean; current?: boolean } = {}): HTMLElement {
  const body = e.body.length > 2000 ? e.body.slice(0, 2000) + "…" : e.body;
  return h(
    "a",
    { class: `row lvlrow-${e.level}${opts.current ? " current" : ""}`, href: `/logs/${encodeURIComponent(e.id)}`, "data-id": e.id, "data-time": e.time, "data-testid": "log-row", title: dateTime(e.time) },
    h("span", { class: "t" }, opts.fullDate ? dateTime(e.time) : clock(e.time)),
    levelBadge(e.level),
    h("span", { class: "svc" }, val(e.service)),
    h("span", { class: "msg" }, h("span", { class: "body" }, val(body)), e.error?.message ? h("span", { class: "err" }, "  ", val(e.error.message)) : null),
    h("span", { class: "attrs" }, attrSummary(e.attributes)),
  );
}
