// Opt-in measurement (not a test): against a running sawmill (SAWMILL_URL),
// submits text searches in the dashboard and prints, per search, the time
// from submit to the rows on screen and to the count on screen.
//   SAWMILL_URL=http://127.0.0.1:7080 node e2e/measure-search.mjs created "user 42" 10.1
import { launchBrowser, newPage } from "./harness.mjs";

const base = process.env.SAWMILL_URL ?? "http://127.0.0.1:7080";
const queries = process.argv.slice(2);
const rounds = Number(process.env.ROUNDS ?? 3);
const browser = await launchBrowser();
const { page, context } = await newPage(browser);
// HOLD=1: the count and stats requests never leave the page, so the rows
// request runs alone (the baseline of what "rows first" can reach).
const hold = process.env.HOLD === "1";
if (hold) await page.route((u) => u.pathname === "/api/v1/logs/count" || u.pathname === "/api/v1/stats", () => undefined);
await page.goto(`${base}/search?from=-1h&q=warmup-no-match`);
await page.waitForSelector("[data-testid=search-rows][data-state=loaded]");
const out = [];
for (let r = 0; r < rounds; r++) {
  for (const q of queries) {
    await page.fill("[data-testid=filter-q]", q);
    /** @type {{rows: number, count: number, text: string}} */
    const t = await page.evaluate(
      (hold) =>
        new Promise((resolve) => {
          const el = (id) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid=${id}]`));
          const rowsEl = el("search-rows");
          const countEl = el("search-count");
          const before = countEl.textContent;
          const t0 = performance.now();
          let rows = 0;
          let count = 0;
          const tick = () => {
            const now = performance.now();
            // The rows are on screen once their container says loaded with the new search.
            if (!rows && rowsEl.dataset.state === "loaded" && now > t0) rows = now - t0;
            const done = countEl.dataset.state ? countEl.dataset.state === "loaded" : countEl.textContent !== before && /match/.test(countEl.textContent);
            if (!count && (done || hold)) count = now - t0;
            if (rows && count) resolve({ rows: Math.round(rows), count: Math.round(count), text: countEl.textContent });
            else requestAnimationFrame(tick);
          };
          el("filter-apply").click();
          requestAnimationFrame(tick);
        }),
      hold,
    );
    out.push({ q, ...t });
    console.log(JSON.stringify({ q, ...t }));
  }
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`median submit->rows ${med(out.map((o) => o.rows))} ms, submit->count ${med(out.map((o) => o.count))} ms (n=${out.length})`);
await context.close();
await browser.close();
