// Filters shared by every view, kept in the URL's query string with the
// same parameter names as the JSON API (service, level, q, attr, from, to).

import { h, replace, type Child } from "./dom";
import { LEVELS } from "./format";

export interface Filter {
  services: string[];
  level: string;
  q: string;
  attrs: string[];
}

export function filterFromURL(p: URLSearchParams): Filter {
  const services: string[] = [];
  for (const s of p.getAll("service")) {
    for (const part of s.split(",")) {
      const t = part.trim();
      if (t && !services.includes(t)) services.push(t);
    }
  }
  return {
    services,
    level: p.get("level") ?? "",
    q: p.get("q") ?? "",
    attrs: p.getAll("attr").filter((a) => a.includes(":")),
  };
}

/** filterParams writes f as API / URL query parameters. */
export function filterParams(f: Filter, into = new URLSearchParams()): URLSearchParams {
  for (const s of f.services) into.append("service", s);
  if (f.level) into.set("level", f.level);
  if (f.q) into.set("q", f.q);
  for (const a of f.attrs) into.append("attr", a);
  return into;
}

export function sameFilter(a: Filter, b: Filter): boolean {
  return filterParams(a).toString() === filterParams(b).toString();
}

/** FilterBar edits a Filter; onApply runs when the user applies a change. */
export class FilterBar {
  readonly el: HTMLFormElement;
  private readonly service: HTMLInputElement;
  private readonly level: HTMLSelectElement;
  private readonly q: HTMLInputElement;
  private readonly attrInput: HTMLInputElement;
  private readonly chips: HTMLElement;
  private readonly error: HTMLElement;
  private attrs: string[];

  constructor(
    f: Filter,
    private readonly onApply: (f: Filter) => void,
    extra: Child = null,
  ) {
    this.attrs = [...f.attrs];
    this.service = h("input", { name: "service", type: "text", placeholder: "all services", value: f.services.join(", "), list: "service-names", autocomplete: "off", "aria-label": "Services (comma-separated)", "data-testid": "filter-service" });
    this.level = h(
      "select",
      { name: "level", "aria-label": "Minimum level", "data-testid": "filter-level", onchange: () => { this.apply(); } },
      h("option", { value: "", selected: f.level === "" }, "any level"),
      LEVELS.map((l) => h("option", { value: l, selected: f.level === l }, `≥ ${l}`)),
    );
    this.q = h("input", { name: "q", type: "search", placeholder: "text in message", value: f.q, autocomplete: "off", "aria-label": "Text", "data-testid": "filter-q" });
    this.attrInput = h("input", {
      name: "attr",
      type: "text",
      placeholder: "key:value",
      autocomplete: "off",
      "aria-label": "Attribute filter key:value (Enter adds)",
      "data-testid": "filter-attr",
      onkeydown: (e) => {
        if (e.key === "Enter") {
          e.preventDefault();
          if (this.takeAttrInput()) this.apply();
        }
      },
    });
    this.chips = h("span", { class: "chips" });
    this.error = h("span", { class: "filter-error", role: "alert" });
    this.el = h(
      "form",
      {
        class: "filters",
        "data-testid": "filters",
        onsubmit: (e) => {
          e.preventDefault();
          this.takeAttrInput();
          this.apply();
        },
      },
      h("label", null, h("span", null, "Service"), this.service),
      h("label", null, h("span", null, "Level"), this.level),
      h("label", { class: "grow" }, h("span", null, "Text"), this.q),
      h("label", null, h("span", null, "Attribute"), this.attrInput),
      this.chips,
      extra,
      h("button", { type: "submit", class: "primary", "data-testid": "filter-apply" }, "Apply"),
      this.error,
    );
    this.renderChips();
  }

  private takeAttrInput(): boolean {
    const v = this.attrInput.value.trim();
    if (!v) return false;
    const i = v.indexOf(":");
    if (i <= 0) {
      this.error.textContent = `attribute filter must be key:value, got "${v}"`;
      return false;
    }
    if (!this.attrs.includes(v)) this.attrs.push(v);
    this.attrInput.value = "";
    this.error.textContent = "";
    this.renderChips();
    return true;
  }

  private renderChips(): void {
    replace(
      this.chips,
      this.attrs.map((a) =>
        h(
          "span",
          { class: "chip", "data-testid": "attr-chip" },
          a,
          h("button", { type: "button", title: `remove ${a}`, "aria-label": `remove ${a}`, onclick: () => { this.attrs = this.attrs.filter((x) => x !== a); this.renderChips(); this.apply(); } }, "×"),
        ),
      ),
    );
  }

  value(): Filter {
    const services = this.service.value.split(",").map((s) => s.trim()).filter((s) => s !== "");
    return { services, level: this.level.value, q: this.q.value, attrs: [...this.attrs] };
  }

  showError(msg: string): void {
    this.error.textContent = msg;
  }

  private apply(): void {
    this.error.textContent = "";
    this.onApply(this.value());
  }
}

/** serviceDatalist keeps a <datalist> of known service names for the inputs. */
export function serviceDatalist(names: string[]): void {
  let dl = document.getElementById("service-names");
  if (!dl) {
    dl = h("datalist", { id: "service-names" });
    document.body.appendChild(dl);
  }
  const have = Array.from(dl.children).map((o) => (o as HTMLOptionElement).value).join("\n");
  if (have === names.join("\n")) return;
  replace(dl, names.map((n) => h("option", { value: n })));
}
