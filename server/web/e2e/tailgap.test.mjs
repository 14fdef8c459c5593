// Production mode: when the replica's broker connection drops, its live
// queue (and what it held) is gone; the tail page says so with a gap notice
// (unknown count, the time range, a link to search it) and goes on.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { launchBrowser, newPage, Pusher, screenshot, startServer, uniq } from "./harness.mjs";

const run = promisify(execFile);
const amqpBase = process.env.SAWMILL_TEST_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672/";
const pgBase = process.env.SAWMILL_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
const name = `sawmill_e2e_${process.pid}_${Date.now() % 1e9}`;
let server, browser, pusher;
let vhost = false,
  db = false;

/** withPath returns base with its path replaced by p. */
function withPath(base, p) {
  const u = new URL(base);
  u.pathname = `/${p}`;
  return u.toString();
}

before(async () => {
  await run("rabbitmqctl", ["-q", "add_vhost", name]);
  vhost = true;
  await run("rabbitmqctl", ["-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"]);
  await run("psql", [pgBase, "-qc", `CREATE DATABASE ${name}`]);
  db = true;
  server = await startServer({ args: ["--amqp-url", withPath(amqpBase, name), "--database-url", withPath(pgBase, name)] });
  browser = await launchBrowser();
  pusher = await Pusher.start(server.grpcAddr);
});

after(async () => {
  await pusher?.close();
  await browser?.close();
  await server?.stop();
  if (vhost) await run("rabbitmqctl", ["-q", "delete_vhost", name]);
  if (db) await run("psql", [pgBase, "-qc", `DROP DATABASE ${name} WITH (FORCE)`]);
});

test("a lost broker connection shows a gap notice in the live tail, and the tail goes on", async () => {
  const { page, context, events } = await newPage(browser);
  const svc = uniq("gap");
  await page.goto(`${server.http}/tail?service=${svc}`);
  await page.waitForSelector('[data-testid=tail-state]:text("live")');
  await pusher.push([{ service: svc, level: "info", body: "before the gap" }]);
  await page.waitForSelector('[data-testid=tail-rows] .body:has-text("before the gap")');
  assert.equal(await page.isHidden("[data-testid=gap-notice]"), true, "no gap yet");

  await run("rabbitmqctl", ["-q", "close_all_connections", "-p", name, "closed by the dashboard e2e test"]);
  await page.waitForSelector("[data-testid=gap-notice]", { state: "visible", timeout: 30_000 });
  const notice = (await page.textContent("[data-testid=gap-notice]")) ?? "";
  assert.match(notice, /an unknown number of logs may be missing from this tail between \d\d:\d\d:\d\d\.\d{3} and \d\d:\d\d:\d\d\.\d{3}/);
  assert.match(notice, /connection to the broker was lost/);
  const href = (await page.getAttribute("[data-testid=gap-search]", "href")) ?? "";
  const q = new URL(href, server.http).searchParams;
  assert.equal(new URL(href, server.http).pathname, "/search");
  assert.deepEqual(q.getAll("service"), [svc], "the search keeps the tail's filter");
  assert.ok(Date.parse(q.get("from") ?? "") < Date.parse(q.get("to") ?? ""), href);
  await screenshot(page, "tail-gap");

  // The tail goes on over the new connection.
  for (let i = 0; ; i++) {
    try {
      await pusher.push([{ service: svc, level: "info", body: "after the gap" }]);
      break;
    } catch (e) {
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await page.waitForSelector('[data-testid=tail-rows] .body:has-text("after the gap")', { timeout: 10_000 });
  assert.deepEqual(events.errors, [], "no page errors");
  await context.close();
});
