// Shared pieces of the dashboard's end-to-end tests: build the real sawmill
// binary and the SDK pusher, start the server on free loopback ports with a
// temporary data directory, push logs through the Go SDK, and drive Debian's
// chromium with playwright-core.

import { spawn, execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const run = promisify(execFile);

export const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = path.resolve(webDir, "../..");
/** artifacts (screenshots) go outside git: $SAWMILL_ARTIFACTS or <repo>/artifacts/dashboard (gitignored). */
export const artifactsDir = process.env.SAWMILL_ARTIFACTS ?? path.join(repoRoot, "artifacts", "dashboard");
mkdirSync(artifactsDir, { recursive: true });

const binDir = mkdtempSync(path.join(os.tmpdir(), "sawmill-e2e-bin-"));
process.on("exit", () => rmSync(binDir, { recursive: true, force: true }));

/** goBuild builds a Go main package into the temp bin dir (once per name). */
const built = new Map();
export function goBuild(name, pkg, { cwd = repoRoot, env = {} } = {}) {
  let p = built.get(name);
  if (!p) {
    const out = path.join(binDir, name);
    p = run("go", ["build", "-o", out, pkg], { cwd, env: { ...process.env, ...env }, maxBuffer: 16 << 20 }).then(() => out);
    built.set(name, p);
  }
  return p;
}

export const sawmillBin = () => goBuild("sawmill", "./server/cmd/sawmill");
// The pusher is its own module outside go.work (it imports the SDK).
export const pusherBin = () => goBuild("pusher", ".", { cwd: path.join(webDir, "e2e", "pusher"), env: { GOWORK: "off" } });
export const loadgenBin = () => goBuild("loadgen", "./examples/loadgen");

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = /** @type {net.AddressInfo} */ (srv.address());
  srv.close();
  await once(srv, "close");
  return port;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * startServer runs the sawmill binary on free loopback ports.
 * @param {{args?: string[], env?: Record<string,string>}} [opts]
 */
export async function startServer(opts = {}) {
  const bin = await sawmillBin();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "sawmill-e2e-data-"));
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const grpcAddr = `127.0.0.1:${grpcPort}`;
  const http = `http://127.0.0.1:${httpPort}`;
  const child = spawn(bin, ["--grpc-addr", grpcAddr, "--http-addr", `127.0.0.1:${httpPort}`, "--data-dir", dataDir, "--log-level", "warn", ...(opts.args ?? [])], {
    env: { ...process.env, ...(opts.env ?? {}) },
    stdio: ["ignore", "inherit", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (b) => {
    stderr += b.toString();
    if (stderr.length > 1 << 20) stderr = stderr.slice(-65536);
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sawmill exited ${child.exitCode}: ${stderr}`);
    try {
      const r = await fetch(`${http}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`sawmill not ready in 30 s: ${stderr}`);
    }
    await sleep(50);
  }
  return {
    http,
    grpcAddr,
    dataDir,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
        await once(child, "exit");
        clearTimeout(t);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** api GETs a JSON API path of the server. */
export async function api(server, pathAndQuery, token) {
  const r = await fetch(server.http + pathAndQuery, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!r.ok) throw new Error(`GET ${pathAndQuery}: ${r.status} ${await r.text()}`);
  return r.json();
}

/**
 * waitForCount polls /api/v1/logs/count until it reaches want.
 * @param {any} server @param {string} query @param {number} want
 * @param {{timeout?: number, token?: string}} [opts]
 */
export async function waitForCount(server, query, want, opts = {}) {
  const { timeout = 20_000, token } = opts;
  const deadline = Date.now() + timeout;
  let got = -1;
  while (Date.now() < deadline) {
    ({ count: got } = await api(server, `/api/v1/logs/count?${query}`, token));
    if (got >= want) return got;
    await sleep(50);
  }
  throw new Error(`count(${query}) = ${got}, want ${want} within ${timeout} ms`);
}

/**
 * Pusher sends records through the Go SDK (e2e/pusher): push resolves when
 * the server acknowledged them (durable).
 */
export class Pusher {
  /** @param {string} grpcAddr @param {string} [token] */
  static async start(grpcAddr, token) {
    const bin = await pusherBin();
    return new Pusher(spawn(bin, ["--target", grpcAddr, ...(token ? ["--token", token] : [])], { stdio: ["pipe", "pipe", "inherit"] }));
  }

  /** @param {import("node:child_process").ChildProcessWithoutNullStreams | any} child */
  constructor(child) {
    this.child = child;
    /** @type {((line: string) => void)[]} */
    this.waiters = [];
    this.exit = once(child, "exit");
    createInterface({ input: child.stdout }).on("line", (line) => {
      const w = this.waiters.shift();
      if (w) w(line);
    });
    child.on("exit", (code) => {
      for (const w of this.waiters.splice(0)) w(`exited ${code}`);
    });
  }

  /** push sends records and waits for their acknowledgement. */
  async push(records) {
    const acked = new Promise((resolve) => this.waiters.push(resolve));
    this.child.stdin.write(records.map((r) => JSON.stringify(r)).join("\n") + "\n\n");
    const line = await acked;
    if (!String(line).startsWith("acked ")) throw new Error(`pusher: ${line}`);
  }

  async close() {
    this.child.stdin.end();
    await this.exit;
  }
}

/**
 * launchBrowser starts Debian's chromium, headless. playwright-core gives
 * every launch a fresh temporary --user-data-dir of its own (it refuses the
 * flag) and removes it on close.
 */
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
  return browser;
}

/**
 * newPage opens a page that records every dialog and page error, so a test
 * can assert that no injected script ran.
 */
export async function newPage(browser, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, ...opts });
  const page = await context.newPage();
  /** @type {{dialogs: string[], errors: string[], console: string[]}} */
  const events = { dialogs: [], errors: [], console: [] };
  page.on("dialog", (d) => {
    events.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on("pageerror", (e) => events.errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") events.console.push(m.text());
  });
  return { page, context, events };
}

export async function screenshot(page, name) {
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** uniq makes a marker unique to this run. */
export const uniq = (p) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
