// Recent: the last N logs per service, straight from the server's memory
// (the recent cache), so it answers even while the store catches up.

import { get, isAbort, errorText, type Recent } from "../api";
import { h, replace, text, val } from "../dom";
import { num } from "../format";
import { logRow } from "../logrow";
import type { Ctx, View } from "../view";

export function recent(ctx: Ctx): View {
  const p = ctx.url.searchParams;
  const services = p.getAll("service");
  const limit = Math.min(1000, Math.max(1, Number(p.get("limit")) || 20));
  const abort = new AbortController();
  let timer = 0;
  const list = h("div", { class: "recent-list", "data-testid": "recent" }, h("p", { class: "muted" }, "Loading…"));
  const updated = h("span", { class: "muted" });
  const el = h(
    "section",
    { class: "recent", "data-testid": "view-recent" },
    h(
      "div",
      { class: "toolbar" },
      h("h1", null, "Recent"),
      services.length > 0 ? h("span", { class: "chip" }, services.join(", "), h("a", { href: "/recent", title: "all services" }, "×")) : null,
      h("span", { class: "muted" }, `last ${limit} per service`),
      updated,
    ),
    list,
  );

  async function load(): Promise<void> {
    const q = new URLSearchParams();
    for (const s of services) q.append("service", s);
    q.set("limit", String(limit));
    try {
      const r = await get<Recent>("/api/v1/recent", q, abort.signal);
      replace(
        list,
        r.services.length === 0
          ? h("p", { class: "muted" }, "No logs yet.")
          : r.services.map((s) => {
              const sq = new URLSearchParams({ service: s.service }).toString();
              return h(
                "div",
                { class: "panel", "data-testid": "recent-service" },
                h("h2", null, val(s.service), h("span", { class: "muted small" }, ` ${num(s.logs.length)} logs `), h("a", { class: "small", href: `/tail?${sq}` }, "tail"), " ", h("a", { class: "small", href: `/search?${sq}` }, "search")),
                h("div", { class: "rows" }, s.logs.map((e) => logRow(e))),
              );
            }),
      );
      text(updated, `updated ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      if (isAbort(e)) return;
      replace(list, h("div", { class: "error-banner", role: "alert" }, errorText(e)));
    }
    timer = window.setTimeout(() => void load(), 5000);
  }
  void load();
  return {
    el,
    dispose() {
      abort.abort();
      clearTimeout(timer);
    },
  };
}
