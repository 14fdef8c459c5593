// Bidirectional-text controls in log content must not reorder what the
// reader sees: "svc\u202Eevil" (U+202E RIGHT-TO-LEFT OVERRIDE) once showed
// as "svclive", and an override in a message reversed the text after it.
// Every log value is rendered isolated (<bdi>) with its controls shown as
// markers; this checks the layout in chromium, character by character.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, newPage, Pusher, screenshot, startServer, waitForCount } from "./harness.mjs";

const RLO = "\u202E";
const service = `svc${RLO}evil`;
const record = {
  service,
  instance: `pod${RLO}x7q`,
  level: "error",
  body: `paid ${RLO}done`,
  attrs: { [`k${RLO}ey`]: `v${RLO}al`, next: "tail" },
  error: { type: "E", message: "after", stack: `at ${RLO}main` },
};

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {Awaited<ReturnType<typeof launchBrowser>>} */
let browser;
/** @type {Pusher} */
let pusher;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  pusher = await Pusher.start(server.grpcAddr);
  await pusher.push([record]);
  await waitForCount(server, `service=${encodeURIComponent(service)}`, 1);
});

after(async () => {
  await pusher?.close();
  await browser?.close();
  await server?.stop();
});

/**
 * layout returns, for each word, the left edges of its characters as laid
 * out inside the first element matching selector (words are searched in
 * the element's text, in logical order), and the element's text.
 * @param {import("playwright-core").Page} page @param {string} selector @param {string[]} words
 */
async function layout(page, selector, words) {
  return page.$eval(selector, (el, ws) => {
    const nodes = [];
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let all = "";
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const t = /** @type {Text} */ (n);
      nodes.push({ n: t, at: all.length });
      all += t.data;
    }
    /** @param {number} i */
    const left = (i) => {
      let k = 0;
      while (k + 1 < nodes.length && nodes[k + 1].at <= i) k++;
      const { n, at } = nodes[k];
      const r = document.createRange();
      r.setStart(n, i - at);
      r.setEnd(n, i - at + 1);
      return r.getBoundingClientRect().left;
    };
    const out = {};
    for (const w of ws) {
      const i = all.indexOf(w);
      if (i < 0) throw new Error(`"${w}" not in ${JSON.stringify(all)}`);
      out[w] = [...w].map((_, j) => left(i + j));
    }
    return { text: all, lefts: out };
  }, words);
}

/** assertInOrder checks that each word's characters, and the words, run left to right. */
function assertInOrder(where, got, words) {
  let prev = -Infinity;
  for (const w of words) {
    const ls = got.lefts[w];
    for (let i = 1; i < ls.length; i++) assert.ok(ls[i] > ls[i - 1], `${where}: "${w}" is laid out reversed (${ls.join(", ")}) in ${JSON.stringify(got.text)}`);
    assert.ok(ls[0] > prev, `${where}: "${w}" is placed before the text preceding it in ${JSON.stringify(got.text)}`);
    prev = ls[ls.length - 1];
  }
}

test("right-to-left overrides in log values neither reverse the value nor the text after it", async () => {
  const { page, context, events } = await newPage(browser);
  await page.goto(`${server.http}/search?service=${encodeURIComponent(service)}&from=-1h`);
  const row = "[data-testid=search-rows] [data-testid=log-row]";
  await page.waitForSelector(row);
  await screenshot(page, "bidi-search");

  const svc = await layout(page, `${row} .svc`, ["svc", "evil"]);
  assertInOrder("row service", svc, ["svc", "evil"]);
  assert.equal(svc.text, "svc⟨U+202E⟩evil", "the control is shown, not applied");
  // The message, then the error message after it in the same column.
  assertInOrder("row message", await layout(page, `${row} .msg`, ["paid", "done", "after"]), ["paid", "done", "after"]);
  // Attribute keys and values, then the next attribute.
  assertInOrder("row attributes", await layout(page, `${row} .attrs`, ["ey", "al", "next", "tail"]), ["ey", "al", "next", "tail"]);

  await page.click(row);
  await page.waitForSelector("[data-testid=detail-body]");
  await screenshot(page, "bidi-detail");
  assertInOrder("detail service", await layout(page, "[data-testid=detail-service]", ["svc", "evil"]), ["svc", "evil"]);
  assertInOrder("detail body", await layout(page, "[data-testid=detail-body]", ["paid", "done"]), ["paid", "done"]);
  assertInOrder("detail stack", await layout(page, "[data-testid=detail-stack]", ["at", "main"]), ["at", "main"]);
  // The attribute tree has a line per key and value: each reads left to right.
  const tree = await layout(page, "[data-testid=detail-attrs]", ["ey", "al", "next", "tail"]);
  for (const w of ["ey", "al", "next", "tail"]) assertInOrder("detail attributes", tree, [w]);
  assertInOrder("detail instance", await layout(page, ".kv", ["pod", "x7q"]), ["pod", "x7q"]);
  assert.deepEqual(events.errors, [], "no page error");
  await context.close();
});
