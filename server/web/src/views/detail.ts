// Log detail: one log at its own URL (/logs/{id}), with every attribute
// (nested ones as a tree), the error and its stack, trace and span ids,
// the surrounding logs of the same service, and the raw JSON.

import { ApiError, get, isAbort, errorText, type Detail, type Entry } from "../api";
import { h, replace, text, val } from "../dom";
import { dateTime } from "../format";
import { levelBadge, logRow } from "../logrow";
import type { Ctx, View } from "../view";

const SURROUNDING = 10;

function scalar(v: unknown): HTMLElement {
  if (v === null) return h("span", { class: "v v-null" }, "null");
  switch (typeof v) {
    case "string":
      return h("span", { class: "v v-str" }, val(v));
    case "number":
      return h("span", { class: "v v-num" }, String(v));
    case "boolean":
      return h("span", { class: "v v-bool" }, String(v));
    default:
      return h("span", { class: "v" }, JSON.stringify(v));
  }
}

/** tree renders a JSON value; scalars under objects link to a search for key:value. */
function tree(v: unknown, path: string | null, service: string, depth = 0): HTMLElement {
  if (depth > 32) return h("span", { class: "v" }, JSON.stringify(v));
  if (Array.isArray(v)) {
    if (v.length === 0) return h("span", { class: "v v-null" }, "[]");
    return h(
      "ol",
      { class: "tree arr", min: "0" },
      v.map((x) => h("li", null, tree(x, null, service, depth + 1))),
    );
  }
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) return h("span", { class: "v v-null" }, "{}");
    // {"$bytes": "..."} is how binary attributes travel
    if (entries.length === 1 && entries[0]?.[0] === "$bytes" && typeof entries[0][1] === "string") {
      return h("span", { class: "v v-bytes", title: "base64 bytes" }, `bytes ${entries[0][1]}`);
    }
    return h(
      "dl",
      { class: "tree obj" },
      entries.map(([k, x]) => {
        // inside arrays there is no key path a filter could name
        const p = path === null ? null : path ? `${path}.${k}` : k;
        const isScalar = x === null || typeof x !== "object";
        const search = isScalar && p !== null ? new URLSearchParams({ service, attr: `${p}:${typeof x === "string" ? x : JSON.stringify(x)}` }).toString() : "";
        return [
          h("dt", null, val(k)),
          h("dd", null, tree(x, p, service, depth + 1), search ? h("a", { class: "filter-link", href: `/search?${search}`, title: `search ${p ?? ""}:…` }, "⌕") : null),
        ];
      }),
    );
  }
  return scalar(v);
}

function copyButton(label: string, value: () => string): HTMLElement {
  const b = h("button", {
    type: "button",
    class: "small",
    onclick: () => {
      const v = value();
      const done = (): void => {
        text(b, "copied");
        setTimeout(() => { text(b, label); }, 1200);
      };
      // No clipboard API on plain-HTTP origins: show the value, selected, to copy by hand.
      const manual = (): void => {
        const input = h("input", { type: "text", value: v, class: "copy-manual", "aria-label": label });
        input.readOnly = true;
        b.replaceWith(input);
        input.select();
      };
      const cb = navigator.clipboard as Clipboard | undefined;
      if (cb) cb.writeText(v).then(done, manual);
      else manual();
    },
  }, label);
  return b;
}

export function detail(_ctx: Ctx, id: string): View {
  const abort = new AbortController();
  let timer = 0;
  const body = h("div", { class: "detail-body" }, h("p", { class: "muted" }, "Loading…"));
  const el = h(
    "section",
    { class: "detail", "data-testid": "view-detail" },
    h("div", { class: "toolbar" }, h("h1", null, "Log"), h("code", { class: "muted small", "data-testid": "detail-id" }, id), copyButton("Copy link", () => location.href)),
    body,
  );

  async function load(attempt: number): Promise<void> {
    try {
      const d = await get<Detail>(`/api/v1/logs/${encodeURIComponent(id)}`, new URLSearchParams({ surrounding: String(SURROUNDING) }), abort.signal);
      render(d);
    } catch (e) {
      if (isAbort(e)) return;
      // Just arrived in the live tail: the store may not have it yet.
      if (e instanceof ApiError && e.status === 404 && attempt < 10) {
        replace(body, h("p", { class: "muted" }, "Not stored yet, retrying…"));
        timer = window.setTimeout(() => void load(attempt + 1), 500);
        return;
      }
      replace(body, h("div", { class: "error-banner", role: "alert" }, errorText(e)));
    }
  }

  function render(d: Detail): void {
    const e = d.log;
    const kv = (k: string, v: string | number | undefined, testid?: string): HTMLElement[] =>
      v === undefined || v === "" ? [] : [h("dt", null, k), h("dd", { "data-testid": testid }, val(String(v)))];
    const svcQ = new URLSearchParams({ service: e.service }).toString();
    const around = [...d.before, e, ...d.after].sort((a, b) => cmpTime(a, b));
    replace(
      body,
      h(
        "div",
        { class: "detail-head" },
        levelBadge(e.level),
        h("span", { class: "t", "data-testid": "detail-time" }, dateTime(e.time)),
        h("a", { class: "svc", href: `/search?${svcQ}`, "data-testid": "detail-service" }, val(e.service)),
      ),
      h("pre", { class: "body", "data-testid": "detail-body" }, val(e.body)),
      e.error
        ? h(
            "div",
            { class: "panel error-panel", "data-testid": "detail-error" },
            h("h2", null, "Error"),
            h("div", { class: "err-type" }, val(e.error.type ?? "")),
            h("div", { class: "err-msg" }, val(e.error.message ?? "")),
            e.error.stack ? h("pre", { class: "stack", "data-testid": "detail-stack" }, val(e.error.stack)) : null,
          )
        : null,
      h(
        "div",
        { class: "grid2" },
        h(
          "div",
          { class: "panel" },
          h("h2", null, "Attributes"),
          e.attributes && Object.keys(e.attributes).length > 0 ? h("div", { "data-testid": "detail-attrs" }, tree(e.attributes, "", e.service)) : h("p", { class: "muted" }, "none"),
        ),
        h(
          "div",
          { class: "panel" },
          h("h2", null, "Context"),
          h(
            "dl",
            { class: "kv" },
            kv("Time", e.time),
            kv("Observed", e.observed_time),
            kv("Severity", `${e.level} (${e.severity_number}${e.severity_text ? `, "${e.severity_text}"` : ""})`),
            kv("Service", e.service),
            kv("Instance", e.instance),
            kv("Environment", e.environment),
            kv("Version", e.version),
            kv("Logger", e.logger),
            kv("Trace ID", e.trace_id, "detail-trace"),
            kv("Span ID", e.span_id, "detail-span"),
            e.source ? kv("Source", `${e.source.file ?? ""}${e.source.line ? `:${e.source.line}` : ""}${e.source.function ? ` (${e.source.function})` : ""}`) : [],
          ),
          e.resource_attributes && Object.keys(e.resource_attributes).length > 0 ? [h("h3", null, "Resource attributes"), tree(e.resource_attributes, "", e.service)] : null,
        ),
      ),
      h(
        "div",
        { class: "panel" },
        h("h2", null, "Around this log in ", val(e.service)),
        h("div", { class: "rows", "data-testid": "detail-surrounding" }, around.map((x) => logRow(x, { fullDate: true, current: x.id === e.id }))),
      ),
      h("details", { class: "panel raw" }, h("summary", null, "Raw JSON"), h("pre", { "data-testid": "detail-raw" }, val(JSON.stringify(e, null, 2)))),
    );
  }

  void load(0);
  return {
    el,
    dispose() {
      abort.abort();
      clearTimeout(timer);
    },
  };
}

function cmpTime(a: Entry, b: Entry): number {
  const x = BigInt(a.time_unix_nano || "0");
  const y = BigInt(b.time_unix_nano || "0");
  return x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
