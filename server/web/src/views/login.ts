// Login: the server was started with --ui-token (or ingest tokens); the
// token is kept in this browser and sent as a bearer token.

import { get, setToken, ApiError } from "../api";
import { h, text } from "../dom";
import type { Ctx, View } from "../view";

export function login(ctx: Ctx): View {
  const next = ctx.url.searchParams.get("next") ?? "/";
  const input = h("input", { type: "password", name: "token", autocomplete: "current-password", placeholder: "access token", "aria-label": "Access token", "data-testid": "login-token" });
  const msg = h("p", { class: "filter-error", role: "alert", "data-testid": "login-error" });
  const el = h(
    "section",
    { class: "login", "data-testid": "view-login" },
    h(
      "form",
      {
        class: "panel login-box",
        onsubmit: (e) => {
          e.preventDefault();
          const tok = input.value.trim();
          setToken(tok);
          get("/api/v1/status")
            .then(() => {
              ctx.navigate(next.startsWith("/") && !next.startsWith("//") ? next : "/", true);
            })
            .catch((err: unknown) => {
              setToken("");
              text(msg, err instanceof ApiError && err.status === 401 ? "That token is not accepted." : `Cannot reach the server: ${String(err)}`);
            });
        },
      },
      h("h1", null, "Sign in to Sawmill"),
      h("p", { class: "muted" }, "This server needs an access token (its --ui-token) to show logs."),
      input,
      h("button", { type: "submit", class: "primary", "data-testid": "login-submit" }, "Sign in"),
      msg,
    ),
  );
  setTimeout(() => { input.focus(); }, 0);
  return { el, dispose() { /* nothing running */ } };
}
