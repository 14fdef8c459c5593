// The search page never blocks its rows on the count and the histogram:
// on a big store those scan every candidate block (seconds) while a page of
// rows takes milliseconds. Here the count and stats requests are held in the
// browser (page.route) until the test releases them, so "rows first" is
// checked without timing: the rows must be on screen while the count and the
// histogram still say they are loading. Also: a late answer of an earlier
// search never overwrites the current one, their errors show inline without
// hiding the rows, and on a 390 px phone the rows show their message and
// nothing (nav included) overflows the screen.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, newPage, Pusher, screenshot, startServer, uniq, waitForCount } from "./harness.mjs";

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {Awaited<ReturnType<typeof launchBrowser>>} */
let browser;
/** @type {Pusher} */
let pusher;

const svcA = uniq("rowsfirst-a");
const svcB = uniq("rowsfirst-b");
const svcPhone = uniq("phone");
const recsA = [0, 1, 2].map((i) => ({ service: svcA, level: "info", body: `a message ${i}` }));
const recsB = [0, 1, 2, 3, 4].map((i) => ({ service: svcB, level: i === 4 ? "error" : "info", body: `b message ${i}` }));
const phoneBody = (i) => `payment ${i} declined by the card issuer after three retries; customer notified by e-mail`;
const recsPhone = [0, 1, 2, 3].map((i) => ({
  service: svcPhone,
  level: i === 0 ? "error" : "info",
  body: phoneBody(i),
  attrs: { region: "eu", attempt: i, customer: "c-00042" },
  ...(i === 0 ? { error: { type: "CardError", message: "issuer declined" } } : {}),
}));

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  pusher = await Pusher.start(server.grpcAddr);
  await pusher.push([...recsA, ...recsB, ...recsPhone]);
  await waitForCount(server, `service=${svcA}`, recsA.length);
  await waitForCount(server, `service=${svcB}`, recsB.length);
  await waitForCount(server, `service=${svcPhone}`, recsPhone.length);
});

after(async () => {
  await pusher?.close();
  await browser?.close();
  await server?.stop();
});

/**
 * hold intercepts the page's requests to an API path and keeps them
 * unanswered until released; seen counts every request made.
 * @param {import("playwright-core").Page} page @param {string} pathname
 */
async function hold(page, pathname) {
  /** @type {import("playwright-core").Route[]} */
  const held = [];
  const h = {
    held,
    seen: 0,
    /**
     * release lets the held requests matching pred go on to the server.
     * @param {(u: URL) => boolean} [pred]
     */
    async release(pred = () => true) {
      for (const r of held.filter((r) => pred(new URL(r.request().url())))) {
        held.splice(held.indexOf(r), 1);
        // The page may have aborted it meanwhile; then there is nothing to answer.
        await r.continue().catch(() => undefined);
      }
    },
  };
  await page.route(
    (u) => u.pathname === pathname,
    (route) => {
      h.seen++;
      held.push(route);
    },
  );
  return h;
}

const rows = "[data-testid=search-rows] [data-testid=log-row]";
const bodies = (page) => page.locator(`${rows} .body`).allTextContents();
/** waitHeld waits until n requests are held. */
const waitHeld = async (h, n) => {
  for (let i = 0; h.held.length < n; i++) {
    if (i > 400) throw new Error(`${h.held.length} requests held, want ${n}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

test("rows show while the count and the histogram are still loading, which fill in when answered", async () => {
  const { page, context, events } = await newPage(browser);
  const count = await hold(page, "/api/v1/logs/count");
  const stats = await hold(page, "/api/v1/stats");
  await page.goto(`${server.http}/search?service=${svcB}&from=-1h&limit=50`);
  // Rows come while both are held: nothing but the rows request has been answered.
  await page.waitForSelector("[data-testid=search-rows][data-state=loaded]", { timeout: 15_000 });
  assert.deepEqual(await bodies(page), recsB.map((r) => r.body).reverse());
  await waitHeld(count, 1);
  await waitHeld(stats, 1);
  assert.equal(await page.getAttribute("[data-testid=search-count]", "data-state"), "loading");
  assert.equal(await page.textContent("[data-testid=search-count]"), "counting…");
  assert.equal(await page.getAttribute("[data-testid=search-histogram]", "data-state"), "loading");
  assert.equal(await page.textContent("[data-testid=search-histogram-status]"), "loading…");
  assert.ok(await page.isHidden("[data-testid=search-error]"), "no error banner");
  await screenshot(page, "search-rows-first");

  await count.release();
  await page.waitForSelector("[data-testid=search-count][data-state=loaded]");
  assert.equal(await page.textContent("[data-testid=search-count]"), `${recsB.length} matches`);
  assert.equal(await page.getAttribute("[data-testid=search-histogram]", "data-state"), "loading", "the histogram waits for its own answer");
  await stats.release();
  await page.waitForSelector("[data-testid=search-histogram][data-state=loaded]");
  assert.equal(await page.getAttribute("[data-testid=search-histogram]", "data-total"), String(recsB.length), "the histogram counts every match");
  assert.ok((await page.locator("[data-testid=search-histogram] canvas").count()) > 0, "a histogram is drawn");
  assert.equal(await page.textContent("[data-testid=search-histogram-status]"), "");
  await screenshot(page, "search-rows-first-filled");

  // Another page size of the same search reuses the count and the histogram:
  // they do not depend on the page.
  await page.selectOption("select[aria-label='Page size']", "500");
  await page.waitForURL(/limit=500/);
  await page.waitForSelector("[data-testid=search-rows][data-state=loaded]");
  assert.equal(count.seen, 1, "no second count for the same search");
  assert.equal(stats.seen, 1, "no second histogram for the same search");
  assert.equal(await page.textContent("[data-testid=search-count]"), `${recsB.length} matches`);
  assert.deepEqual(events.errors, []);
  await context.close();
});

test("a late count or histogram of an earlier search never overwrites the current one", async () => {
  const { page, context, events } = await newPage(browser);
  const count = await hold(page, "/api/v1/logs/count");
  const stats = await hold(page, "/api/v1/stats");
  await page.goto(`${server.http}/search?service=${svcA}&from=-1h`);
  await page.waitForSelector("[data-testid=search-rows][data-state=loaded]");
  assert.deepEqual(await bodies(page), recsA.map((r) => r.body).reverse());
  await waitHeld(count, 1);
  await waitHeld(stats, 1);

  // Search B while A's count and histogram are still out.
  await page.fill("[data-testid=filter-service]", svcB);
  await page.click("[data-testid=filter-apply]");
  await page.waitForURL(new RegExp(`service=${svcB}`));
  await page.waitForFunction((b) => document.querySelector("[data-testid=search-rows][data-state=loaded] .body")?.textContent === b, recsB[4].body);
  await waitHeld(count, 2);
  await waitHeld(stats, 2);
  assert.equal(await page.getAttribute("[data-testid=search-count]", "data-state"), "loading", "A's pending count is not shown for B");

  const of = (svc) => (u) => u.searchParams.get("service") === svc;
  // B answers first, then A's late answers arrive.
  await count.release(of(svcB));
  await stats.release(of(svcB));
  await page.waitForSelector("[data-testid=search-count][data-state=loaded]");
  await page.waitForSelector("[data-testid=search-histogram][data-state=loaded]");
  await count.release(of(svcA));
  await stats.release(of(svcA));
  // Give a stale answer every chance to land: a fresh round trip to the server.
  await page.evaluate(() => fetch("/api/v1/status").then((r) => r.json()));
  assert.equal(await page.textContent("[data-testid=search-count]"), `${recsB.length} matches`);
  assert.equal(await page.getAttribute("[data-testid=search-histogram]", "data-total"), String(recsB.length));
  assert.deepEqual(await bodies(page), recsB.map((r) => r.body).reverse());
  assert.deepEqual(events.errors, []);
  await context.close();
});

test("a failing count or histogram shows its error inline and keeps the rows", async () => {
  const { page, context } = await newPage(browser);
  const fail = (msg) => (route) => route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ error: msg }) });
  await page.route((u) => u.pathname === "/api/v1/logs/count", fail("count backend away"));
  await page.route((u) => u.pathname === "/api/v1/stats", fail("stats backend away"));
  await page.goto(`${server.http}/search?service=${svcB}&from=-1h`);
  await page.waitForSelector("[data-testid=search-count][data-state=error]");
  await page.waitForSelector("[data-testid=search-histogram][data-state=error]");
  assert.equal(await page.textContent("[data-testid=search-count]"), "count failed: count backend away");
  assert.equal(await page.textContent("[data-testid=search-histogram-status]"), "histogram failed: stats backend away");
  assert.equal(await page.getAttribute("[data-testid=search-rows]", "data-state"), "loaded");
  assert.deepEqual(await bodies(page), recsB.map((r) => r.body).reverse());
  assert.ok(await page.isHidden("[data-testid=search-error]"), "the rows' error banner stays hidden");
  await screenshot(page, "search-count-error");
  await context.close();
});

for (const [name, viewport] of /** @type {[string, {width: number, height: number}][]} */ ([
  ["phone", { width: 390, height: 844 }],
  ["small phone", { width: 320, height: 640 }],
])) {
  test(`on a ${viewport.width} px ${name} the search rows show their message and nothing overflows the screen`, async () => {
    const { page, context, events } = await newPage(browser, { viewport, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await page.goto(`${server.http}/search?service=${svcPhone}&from=-1h`);
    await page.waitForSelector("[data-testid=search-rows][data-state=loaded]");
    await page.waitForSelector("[data-testid=search-histogram][data-state=loaded]");
    const shot = `search-${viewport.width}px`;
    await screenshot(page, shot);
    const got = await page.$$eval(`${rows} .msg`, (els) =>
      els.map((el) => {
        const r = el.getBoundingClientRect();
        const body = /** @type {HTMLElement} */ (el.querySelector(".body"));
        // The part of the message's own text that is laid out inside the column.
        const range = document.createRange();
        range.selectNodeContents(body);
        const t = range.getBoundingClientRect();
        return { text: body.textContent, left: r.left, right: r.right, width: r.width, textRight: t.right, visible: el.checkVisibility({ visibilityProperty: true, opacityProperty: true }) };
      }),
    );
    assert.equal(got.length, recsPhone.length);
    for (const [i, m] of got.entries()) {
      assert.equal(m.text, phoneBody(recsPhone.length - 1 - i));
      assert.ok(m.visible, `row ${i}: the message is visible`);
      assert.ok(m.left >= 0 && m.right <= viewport.width, `row ${i}: the message lies on the screen (${m.left}-${m.right})`);
      // At least half the screen's width of message text is shown.
      assert.ok(m.width >= viewport.width / 2, `row ${i}: the message column is ${m.width} px wide on a ${viewport.width} px screen (see ${shot}.png)`);
    }
    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      nav: [...document.querySelectorAll("header.top a, header.top button")].map((a) => {
        const r = a.getBoundingClientRect();
        return { text: a.textContent, left: r.left, right: r.right };
      }),
    }));
    assert.ok(layout.scrollWidth <= viewport.width, `the page is ${layout.scrollWidth} px wide on a ${viewport.width} px screen`);
    assert.deepEqual(
      layout.nav.map((n) => n.text),
      ["≡Sawmill", "Overview", "Live tail", "Search", "Recent"],
    );
    for (const n of layout.nav) assert.ok(n.left >= 0 && n.right <= viewport.width, `nav "${n.text}" fits the screen (${n.left}-${n.right})`);
    assert.deepEqual(events.errors, []);
    await context.close();
  });
}
