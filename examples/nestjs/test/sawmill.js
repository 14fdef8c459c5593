// A real sawmill server for the test: $SAWMILL_BIN, or built from the
// repository with `go build`, started on free loopback ports with a
// temporary data directory.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** @returns {Promise<number>} */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const a = /** @type {import("node:net").AddressInfo} */ (srv.address());
      srv.close(() => res(a.port));
    });
  });
}

/** startSawmill starts a server and returns its addresses, a GET helper and stop(). */
export async function startSawmill() {
  const dir = mkdtempSync(join(tmpdir(), "sawmill-nestjs-"));
  let bin = process.env.SAWMILL_BIN ?? "";
  if (bin === "") {
    bin = join(dir, "sawmill");
    await promisify(execFile)("go", ["build", "-o", bin, "./server/cmd/sawmill"], { cwd: repoRoot, timeout: 300_000 });
  }
  const grpc = await freePort();
  const http = await freePort();
  const proc = spawn(bin, ["--grpc-addr", `127.0.0.1:${grpc}`, "--http-addr", `127.0.0.1:${http}`, "--data-dir", join(dir, "data"), "--log-level", "warn"], { stdio: "ignore" });
  const exited = new Promise((res) => proc.once("exit", res));
  const base = `http://127.0.0.1:${http}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`sawmill exited with ${proc.exitCode}`);
    const ok = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error("sawmill not ready after 60 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    endpoint: `127.0.0.1:${grpc}`,
    /** @param {string} path */
    get: async (path) => {
      const r = await fetch(`${base}${path}`);
      const text = await r.text();
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${text}`);
      return JSON.parse(text);
    },
    stop: async () => {
      proc.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
