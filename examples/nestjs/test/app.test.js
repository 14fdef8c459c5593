// The NestJS example against a real sawmill server: Nest's Logger, through
// nest-winston and winston-sawmill, as stored records. What nest-winston
// passes to winston: logger.error(message, trace) becomes
// { message, context, stack: [trace] }, and an Error (what Nest's
// ExceptionsHandler logs) becomes { message, context, stack: [err.stack], error: err }.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import winston from "winston";
import { SawmillTransport } from "winston-sawmill";
import { createApp } from "../src/app.js";
import { freePort, startSawmill } from "./sawmill.js";

/** @type {Awaited<ReturnType<typeof startSawmill>>} */
let sawmill;
before(async () => {
  sawmill = await startSawmill();
});
after(async () => {
  await sawmill?.stop();
});

/**
 * @typedef {{ body: string, severity_text: string, attributes?: Record<string, unknown>, error?: { type: string, message: string, stack: string } }} Entry
 */

test("Nest's logger.error(message, trace) and its ExceptionsHandler become records with one error field, the stack once", { timeout: 180_000 }, async () => {
  const transport = new SawmillTransport({ service: "nest-users", endpoint: sawmill.endpoint, flushIntervalMs: 20 });
  /** @type {Error[]} */
  const warnings = [];
  transport.on("warn", (e) => warnings.push(e));
  const logger = winston.createLogger({ format: winston.format.json(), transports: [transport] });
  const dbPort = await freePort(); // nothing listens there: a real ECONNREFUSED
  const app = await createApp(logger, { dbPort });
  await app.listen(0, "127.0.0.1");
  const url = await app.getUrl();
  try {
    const down = await fetch(`${url}/users/7`);
    assert.equal(down.status, 503);
    const crash = await fetch(`${url}/crash`);
    assert.equal(crash.status, 500);
  } finally {
    await app.close();
  }
  assert.equal(await transport.close(10_000), true, "delivered");
  assert.deepEqual(warnings, []);

  /** @type {{ logs: Entry[] }} */
  const got = await sawmill.get("/api/v1/logs?service=nest-users&level=error&limit=100");
  const db = got.logs.find((l) => l.body === "db connect failed");
  assert.ok(db, `a "db connect failed" record in ${JSON.stringify(got.logs.map((l) => l.body))}`);
  assert.equal(db.error?.type, "Error");
  assert.equal(db.error?.message, `connect ECONNREFUSED 127.0.0.1:${dbPort}`);
  assert.match(db.error.stack, /^Error: connect ECONNREFUSED 127\.0\.0\.1:\d+\n\s+at /);
  assert.deepEqual(db.attributes, { context: "UsersController" }, "the trace went to the error field, not an attribute");

  const handled = got.logs.find((l) => l.body === "user store corrupted");
  assert.ok(handled, "Nest's ExceptionsHandler record");
  assert.equal(handled.error?.type, "TypeError");
  assert.match(handled.error.stack, /^TypeError: user store corrupted\n\s+at /);
  assert.deepEqual(handled.attributes, { context: "ExceptionsHandler" }, "the stack once: in the error field");
});
