// The only way this dashboard builds DOM. Log content is attacker-controlled,
// so strings always become Text nodes (textContent), never parsed HTML;
// eslint bans innerHTML and friends across the project.

export type Child = Node | string | number | null | undefined | false | Child[];

export interface Attrs {
  class?: string;
  id?: string;
  title?: string;
  href?: string;
  type?: string;
  value?: string;
  placeholder?: string;
  name?: string;
  role?: string;
  for?: string;
  disabled?: boolean;
  checked?: boolean;
  selected?: boolean;
  list?: string;
  min?: string;
  max?: string;
  step?: string;
  autocomplete?: string;
  "aria-label"?: string;
  "aria-live"?: string;
  "aria-pressed"?: string;
  "aria-current"?: string;
  "data-testid"?: string;
  "data-id"?: string;
  "data-level"?: string;
  "data-time"?: string;
  tabindex?: string;
  onclick?: (e: MouseEvent) => void;
  oninput?: (e: Event) => void;
  onchange?: (e: Event) => void;
  onsubmit?: (e: SubmitEvent) => void;
  onkeydown?: (e: KeyboardEvent) => void;
}

function str(v: unknown): string {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : "";
}

function append(el: Node, c: Child): void {
  if (c === null || c === undefined || c === false) return;
  if (Array.isArray(c)) {
    for (const x of c) append(el, x);
    return;
  }
  el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
}

/** h creates an element; string children become text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs) as [string, unknown][]) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") {
        el.addEventListener(k.slice(2), v as EventListener);
      } else if (k === "value" && (el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement)) {
        el.value = str(v);
      } else if (k === "checked" && el instanceof HTMLInputElement) {
        el.checked = Boolean(v);
      } else if (k === "selected" && el instanceof HTMLOptionElement) {
        el.selected = Boolean(v);
      } else if (k === "href") {
        el.setAttribute("href", safeHref(str(v)));
      } else {
        el.setAttribute(k, v === true ? "" : str(v));
      }
    }
  }
  append(el, children);
  return el;
}

/** safeHref only lets same-origin paths through (no javascript: URLs). */
export function safeHref(s: string): string {
  return s.startsWith("/") && !s.startsWith("//") ? s : "#";
}

/** replace swaps all children of el. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** text sets el's text only when it changed (cheap repeated updates). */
export function text(el: Element, s: string): void {
  if (el.textContent !== s) el.textContent = s;
}

// Bidirectional-text controls that open or close an embedding, an override
// or an isolate (U+202A-U+202E, U+2066-U+2069). In log content they would
// reorder what the reader sees: "svc\u202Eevil" displays as "svclive".
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

function controlName(c: string): string {
  return `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/** bidiSafe shows bidi controls in s as visible markers ("⟨U+202E⟩"), for
 * plain-string places such as titles and chart labels. */
export function bidiSafe(s: string): string {
  return s.replace(BIDI_CONTROLS, (c) => `⟨${controlName(c)}⟩`);
}

/** val renders one value that came from a log (service, message, attribute
 * key or value, instance...). It is the one way log content reaches the
 * page: a <bdi> element, so the value is isolated (its direction comes from
 * its own first strong character and nothing in it reorders the text around
 * it), with bidi controls shown as visible markers instead of applied. */
export function val(s: string): HTMLElement {
  const el = document.createElement("bdi");
  let last = 0;
  for (const m of s.matchAll(BIDI_CONTROLS)) {
    if (m.index > last) el.appendChild(document.createTextNode(s.slice(last, m.index)));
    const name = controlName(m[0]);
    const mark = document.createElement("span");
    mark.className = "bidi-ctl";
    mark.title = `bidirectional control character ${name}`;
    mark.textContent = `⟨${name}⟩`;
    el.appendChild(mark);
    last = m.index + m[0].length;
  }
  if (last < s.length || s.length === 0) el.appendChild(document.createTextNode(s.slice(last)));
  return el;
}
