import "uplot/dist/uPlot.min.css";
import "./style.css";
import { getToken, setToken, setUnauthorizedHandler } from "./api";
import { h, replace } from "./dom";
import type { View, Ctx } from "./view";
import { overview } from "./views/overview";
import { tail } from "./views/tail";
import { search } from "./views/search";
import { detail } from "./views/detail";
import { recent } from "./views/recent";
import { login } from "./views/login";

const routes: { name: string; match: RegExp; view: (ctx: Ctx, m: RegExpMatchArray) => View }[] = [
  { name: "overview", match: /^\/$/, view: (c) => overview(c) },
  { name: "tail", match: /^\/tail$/, view: (c) => tail(c) },
  { name: "search", match: /^\/search$/, view: (c) => search(c) },
  { name: "detail", match: /^\/logs\/([^/]+)$/, view: (c, m) => detail(c, decodeURIComponent(m[1] ?? "")) },
  { name: "recent", match: /^\/recent$/, view: (c) => recent(c) },
  { name: "login", match: /^\/login$/, view: (c) => login(c) },
];

const navItems: [string, string, string][] = [
  ["/", "Overview", "overview"],
  ["/tail", "Live tail", "tail"],
  ["/search", "Search", "search"],
  ["/recent", "Recent", "recent"],
];

const nav = h("nav", { class: "nav" });
const main = h("main", { id: "view" });
const app = document.getElementById("app") ?? document.body;
replace(app, h("header", { class: "top" }, h("a", { class: "brand", href: "/" }, h("span", { class: "logo" }, "≡"), "Sawmill"), nav), main);

let current: View | null = null;

function renderNav(active: string): void {
  replace(
    nav,
    navItems.map(([href, label, name]) => h("a", { href, class: name === active ? "active" : "", "aria-current": name === active ? "page" : undefined }, label)),
    getToken()
      ? h("button", { type: "button", class: "link", onclick: () => { setToken(""); navigate("/login"); } }, "Sign out")
      : null,
  );
}

function render(): void {
  current?.dispose();
  current = null;
  const url = new URL(location.href);
  for (const r of routes) {
    const m = url.pathname.match(r.match);
    if (!m) continue;
    renderNav(r.name);
    const ctx: Ctx = { url, navigate, setQuery };
    main.replaceChildren();
    current = r.view(ctx, m);
    main.appendChild(current.el);
    return;
  }
  renderNav("");
  replace(main, h("section", { class: "empty" }, h("h1", null, "Not found"), h("p", null, "No page at ", h("code", null, url.pathname), ". "), h("a", { href: "/" }, "Go to the overview")));
}

/** navigate opens a path of this app (with its query). */
function navigate(path: string, replaceState = false): void {
  if (replaceState) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

/** setQuery records a view's state in the URL without re-rendering. */
function setQuery(p: URLSearchParams, push = false): void {
  const s = p.toString();
  const url = location.pathname + (s ? `?${s}` : "");
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

// Same-origin links open inside the app.
document.addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest("a");
  if (!a || a.target || a.hasAttribute("download")) return;
  const href = a.getAttribute("href");
  if (!href?.startsWith("/") || href.startsWith("//") || href.startsWith("/api/")) return;
  e.preventDefault();
  navigate(href);
});
window.addEventListener("popstate", render);

setUnauthorizedHandler(() => {
  if (location.pathname === "/login") return;
  const next = location.pathname + location.search;
  navigate(`/login?next=${encodeURIComponent(next)}`, true);
});

render();
