// Harness for the real sawmill binary: build it from the monorepo (or take
// SAWMILL_BIN), start it on free loopback ports with its own data directory,
// wait for /readyz, stop it (SIGTERM) or kill it (SIGKILL) and start it
// again on the same ports and data.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, openSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
/** The monorepo root (node-transport/build/test -> ../../..). */
export const repoRoot = resolve(here, "..", "..", "..");

let built: Promise<string | Error> | undefined;

/**
 * sawmillBinary returns the path of a sawmill binary: $SAWMILL_BIN, or one
 * built once per process with `go build ./server/cmd/sawmill`. It returns an
 * Error (not throws) when there is none, so tests can skip with the reason.
 */
export function sawmillBinary(): Promise<string | Error> {
  built ??= new Promise((resolveBin) => {
    const env = process.env.SAWMILL_BIN;
    if (env !== undefined && env !== "") {
      resolveBin(existsSync(env) ? env : new Error(`SAWMILL_BIN=${env} does not exist`));
      return;
    }
    if (!existsSync(join(repoRoot, "server", "cmd", "sawmill"))) {
      resolveBin(new Error(`no server/cmd/sawmill under ${repoRoot}`));
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), "sawmill-bin-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, "sawmill");
    execFile("go", ["build", "-o", out, "./server/cmd/sawmill"], { cwd: repoRoot, timeout: 300_000 }, (err, _stdout, stderr) => {
      resolveBin(err === null ? out : new Error(`go build ./server/cmd/sawmill: ${err.message}\n${stderr}`));
    });
  });
  return built;
}

/** freePort asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

export interface ServerOptions {
  tokens?: string[];
  extraArgs?: string[];
}

/** SawmillServer is one sawmill process (restartable on the same ports and data). */
export class SawmillServer {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  private constructor(
    readonly bin: string,
    readonly grpcPort: number,
    readonly httpPort: number,
    readonly dataDir: string,
    private readonly opts: ServerOptions,
  ) {}

  /** start builds (if needed) and starts a server; it returns an Error when no binary is available. */
  static async start(opts: ServerOptions = {}): Promise<SawmillServer | Error> {
    const bin = await sawmillBinary();
    if (bin instanceof Error) return bin;
    const s = new SawmillServer(bin, await freePort(), await freePort(), mkdtempSync(join(tmpdir(), "sawmill-data-")), opts);
    await s.restart();
    return s;
  }

  /** The gRPC endpoint for the transport. */
  get endpoint(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  /** The HTTP API base URL. */
  get http(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** restart starts the process (again) and waits for /readyz. */
  async restart(): Promise<void> {
    if (this.proc !== undefined) throw new Error("sawmill is already running");
    const args = [
      "--grpc-addr",
      this.endpoint,
      "--http-addr",
      `127.0.0.1:${this.httpPort}`,
      "--data-dir",
      this.dataDir,
      "--log-level",
      "warn",
      ...(this.opts.tokens ?? []).flatMap((t) => ["--token", t]),
      ...(this.opts.extraArgs ?? []),
    ];
    const logFd = openSync(join(this.dataDir, "..", `${this.dataDir.split("/").pop()}.log`), "a");
    const proc = spawn(this.bin, args, { stdio: ["ignore", logFd, logFd] });
    closeSync(logFd);
    this.proc = proc;
    this.exited = new Promise((res) => proc.once("exit", () => res()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`sawmill exited with ${proc.exitCode} while starting (log: ${this.logPath})`);
      try {
        const r = await fetch(`${this.http}/readyz`, this.authInit());
        if (r.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`sawmill not ready after 30 s (log: ${this.logPath})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get logPath(): string {
    return join(this.dataDir, "..", `${this.dataDir.split("/").pop()}.log`);
  }

  private authInit(): RequestInit {
    const t = this.opts.tokens?.[0];
    return t === undefined ? {} : { headers: { authorization: `Bearer ${t}` } };
  }

  /** kill ends the process at once (SIGKILL: nothing drained, nothing flushed). */
  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  /** stop ends the process gracefully (SIGTERM) and waits for it. */
  async stop(): Promise<void> {
    await this.signal("SIGTERM");
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    if (proc === undefined) return;
    proc.kill(sig);
    await this.exited;
    this.proc = undefined;
  }

  /** dispose stops the process and removes its data. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
    rmSync(this.logPath, { force: true });
  }

  /** get fetches an API path and returns the body text (throws on non-200). */
  async get(path: string): Promise<string> {
    const r = await fetch(`${this.http}${path}`, this.authInit());
    const text = await r.text();
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${text}`);
    return text;
  }

  /** count returns GET /api/v1/logs/count for a query string. */
  async count(query: string): Promise<number> {
    const body = JSON.parse(await this.get(`/api/v1/logs/count?${query}`)) as { count: number };
    return body.count;
  }

  /** waitCount polls the count until it equals want (or the deadline passes) and returns the last count. */
  async waitCount(query: string, want: number, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = await this.count(query);
      if (n === want || Date.now() > deadline) return n;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
