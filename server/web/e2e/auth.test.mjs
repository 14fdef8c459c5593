// --ui-token protects the dashboard's data: the query API answers 401
// without it, the page asks for it, and the ingest tokens keep working.

import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, test } from "node:test";
import { launchBrowser, newPage, Pusher, screenshot, startServer, waitForCount } from "./harness.mjs";

const UI = "ui-secret-1";
const INGEST = "ingest-secret-2";
let server, browser;

before(async () => {
  // One at a time, so after() stops whatever did start.
  server = await startServer({ args: ["--token", INGEST], env: { SAWMILL_UI_TOKEN: UI } });
  browser = await launchBrowser();
  const p = await Pusher.start(server.grpcAddr, INGEST);
  await p.push([{ service: "secure", level: "warn", body: "behind the token" }]);
  await p.close();
  await waitForCount(server, "", 1, { token: UI });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the query API needs the UI token or an ingest token", async () => {
  for (const [tok, code] of [["", 401], ["wrong", 401], [UI, 200], [INGEST, 200]]) {
    const r = await fetch(`${server.http}/api/v1/logs`, { headers: tok ? { Authorization: `Bearer ${tok}` } : {} });
    assert.equal(r.status, code, `token ${JSON.stringify(tok)}`);
  }
  const sse = await fetch(`${server.http}/api/v1/tail?access_token=${UI}`);
  assert.equal(sse.status, 200);
  assert.match(sse.headers.get("content-type") ?? "", /text\/event-stream/);
  await sse.body?.cancel();
});

/** grpcStatus makes a unary gRPC call with an empty request and returns its grpc-status. */
async function grpcStatus(addr, method, token) {
  const client = http2.connect(`http://${addr}`);
  try {
    return await new Promise((resolve, reject) => {
      const req = client.request({
        ":method": "POST",
        ":path": method,
        "content-type": "application/grpc",
        te: "trailers",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      });
      let status = "";
      req.on("response", (h) => (status = String(h["grpc-status"] ?? status)));
      req.on("trailers", (h) => (status = String(h["grpc-status"] ?? status)));
      req.on("end", () => resolve(Number(status)));
      req.on("error", reject);
      req.resume();
      req.end(Buffer.from([0, 0, 0, 0, 0])); // an empty message
    });
  } finally {
    client.close();
  }
}

test("gRPC: QueryService takes the UI token, ingest does not", async () => {
  const UNAUTHENTICATED = 16;
  const list = "/sawmill.v1.QueryService/ListServices";
  assert.equal(await grpcStatus(server.grpcAddr, list, ""), UNAUTHENTICATED);
  assert.equal(await grpcStatus(server.grpcAddr, list, UI), 0);
  assert.equal(await grpcStatus(server.grpcAddr, list, INGEST), 0);
  const push = "/sawmill.v1.IngestService/Push";
  assert.equal(await grpcStatus(server.grpcAddr, push, UI), UNAUTHENTICATED, "the UI token cannot ingest");
  assert.notEqual(await grpcStatus(server.grpcAddr, push, INGEST), UNAUTHENTICATED, "the ingest token passes auth (the empty batch is then invalid)");
});

test("the dashboard asks for the token, then shows the logs", async () => {
  const { page, context, events } = await newPage(browser);
  await page.goto(`${server.http}/search?service=secure`);
  await page.waitForURL(/\/login\?next=/);
  await screenshot(page, "login");
  await page.fill("[data-testid=login-token]", "wrong");
  await page.click("[data-testid=login-submit]");
  await page.waitForSelector("[data-testid=login-error]:text('not accepted')");
  await page.fill("[data-testid=login-token]", UI);
  await page.click("[data-testid=login-submit]");
  await page.waitForURL(/\/search\?service=secure/);
  await page.waitForSelector("[data-testid=search-rows] .body:has-text('behind the token')");
  // The live tail authenticates its EventSource with the stored token.
  await page.goto(`${server.http}/tail?service=secure`);
  await page.waitForSelector('[data-testid=tail-state]:text("live")');
  const p = await Pusher.start(server.grpcAddr, INGEST);
  await p.push([{ service: "secure", level: "info", body: "streamed with a token" }]);
  await p.close();
  await page.waitForSelector("[data-testid=tail-rows] .body:has-text('streamed with a token')", { timeout: 3000 });
  // Signing out forgets it.
  await page.click("text=Sign out");
  await page.goto(`${server.http}/`);
  await page.waitForURL(/\/login/);
  assert.deepEqual(events.errors, []);
  await context.close();
});
