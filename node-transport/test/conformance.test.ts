// winston's shared transport conformance suite (abstract-winston-transport),
// run under node:test. The suite is written for mocha's globals and done
// callbacks; the adapters below map them onto node:test.
import { after as nodeAfter, afterEach as nodeAfterEach, beforeEach as nodeBeforeEach, describe as nodeDescribe, it as nodeIt } from "node:test";
import { createRequire } from "node:module";
import { SawmillTransport } from "../src/index.js";

type Done = (err?: unknown) => void;
type MochaFn = ((done: Done) => void) | (() => unknown);

function adapt(fn: MochaFn): () => Promise<void> {
  return async () => {
    if (fn.length >= 1) {
      await new Promise<void>((resolve, reject) => (fn)((err) => (err ? reject(err instanceof Error ? err : new Error(`test callback failed: ${JSON.stringify(err)}`)) : resolve())));
    } else {
      await (fn as () => unknown)();
    }
  };
}

const g = globalThis as Record<string, unknown>;
g.describe = (name: string, fn: () => void) => nodeDescribe(name, fn);
g.it = (name: string, fn: MochaFn) => nodeIt(name, adapt(fn));
g.beforeEach = (fn: MochaFn) => nodeBeforeEach(adapt(fn));
g.afterEach = (fn: MochaFn) => nodeAfterEach(adapt(fn));
g.after = (fn: MochaFn) => nodeAfter(adapt(fn));

const created: SawmillTransport[] = [];
const require = createRequire(import.meta.url);
const suite = require("abstract-winston-transport") as (opts: unknown) => void;

suite({
  name: "SawmillTransport",
  Transport: class extends SawmillTransport {
    constructor(opts: ConstructorParameters<typeof SawmillTransport>[0]) {
      super(opts);
      created.push(this);
    }
  },
  // No server listens on port 9 (discard): sends fail fast and are retried in the background.
  construct: () => ({ service: "conformance", endpoint: "127.0.0.1:9", flushIntervalMs: 50 }),
  afterEach: (_opts: unknown, done: Done) => {
    void Promise.all(created.splice(0).map((t) => t.close(0))).then(() => done());
  },
});
