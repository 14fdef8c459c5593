// The README snippets are programs: this test reads every ```js block of
// node-transport/README.md and the Node snippet of the repository's README.md
// as they are written, runs them with node (the package and winston resolve
// from a node_modules next to the script, as in an application), pointed at a
// real sawmill server (the one substitution: the endpoint 127.0.0.1:7070),
// and checks what they print and what the server stored.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, repoRoot, SawmillServer } from "./server.js";

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const started = await SawmillServer.start();
const skip = started instanceof Error ? `sawmill server not available: ${started.message}` : false;
const server = started instanceof Error ? undefined : started;

const work = mkdtempSync(join(tmpdir(), "winston-sawmill-readme-"));
mkdirSync(join(work, "node_modules"));
symlinkSync(pkgDir, join(work, "node_modules", "winston-sawmill"), "dir");
symlinkSync(join(pkgDir, "node_modules", "winston"), join(work, "node_modules", "winston"), "dir");

after(async () => {
  await server?.dispose();
  rmSync(work, { recursive: true, force: true });
});

/** jsBlocks returns the ```js code blocks of a markdown text, in order. */
function jsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

/** pointed replaces the one endpoint the snippet names with the test server's. */
function pointed(code: string): string {
  const n = code.split("127.0.0.1:7070").length - 1;
  assert.equal(n, 1, "the snippet names the endpoint 127.0.0.1:7070 once");
  return code.replace("127.0.0.1:7070", server!.endpoint);
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * runProgram runs code as an ES module file in the work directory. When
 * `when` matches what it printed so far, act runs once (a handshake, never a
 * guessed delay).
 */
function runProgram(name: string, code: string, opts: { args?: string[]; env?: Record<string, string>; when?: RegExp; act?: (p: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  const file = join(work, name);
  writeFileSync(file, code);
  return new Promise((resolveRun) => {
    const p = spawn(process.execPath, [...(opts.args ?? []), file], { cwd: work, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let acted = false;
    p.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (opts.when !== undefined && !acted && opts.when.test(stdout)) {
        acted = true;
        opts.act?.(p);
      }
    });
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => p.kill("SIGKILL"), 120_000);
    p.on("exit", (code, signal) => {
      clearTimeout(killer);
      resolveRun({ code, signal, stdout, stderr });
    });
  });
}

function jsonLines(out: string): Record<string, unknown>[] {
  return out
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      assert.notEqual(l, "undefined", "the Console transport printed undefined");
      return JSON.parse(l) as Record<string, unknown>;
    });
}

const nodeReadme = readFileSync(join(pkgDir, "README.md"), "utf8");
const [use, shutdown, ...more] = jsBlocks(nodeReadme);

test("node-transport/README.md has exactly the js blocks this test runs", () => {
  assert.ok(use !== undefined && shutdown !== undefined, "a Use and a Shut down block");
  assert.deepEqual(more, [], "a new js block in the README needs a run in this test");
});

test("README 'Use': run as a script, it prints both logs and delivers both before it exits", { skip, timeout: 180_000 }, async () => {
  const r = await runProgram("use.mjs", pointed(use!));
  assert.equal(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  assert.deepEqual(lines.map((l) => l.message), ["order created", "payment failed card declined"]);
  assert.equal(lines[0]!.region, "eu-1");
  assert.equal(await server!.waitCount("service=orders", 2), 2);
  const stored = JSON.parse(await server!.get("/api/v1/logs?service=orders&q=payment")) as { logs: { error?: { type?: string; message?: string } }[] };
  assert.equal(stored.logs[0]?.error?.message, "card declined");
});

test("README 'Use' + 'Shut down': SIGTERM while serving delivers everything, the shutdown's own lines too", { skip, timeout: 180_000 }, async () => {
  const port = await freePort();
  const before = await server!.count("service=orders");
  let fetched: Promise<string> | undefined;
  const r = await runProgram("shutdown.mjs", `${pointed(use!)}\n${shutdown!}`, {
    env: { PORT: String(port) },
    when: /"message":"listening"/,
    act: (p) => {
      // One request, then the signal (after its answer: the request was served).
      fetched = fetch(`http://127.0.0.1:${port}/orders/42`).then(async (res) => {
        const text = await res.text();
        p.kill("SIGTERM");
        return text;
      });
    },
  });
  assert.equal(await fetched, "ok\n");
  assert.equal(r.code, 0, `exit code 0 means close() delivered everything: ${r.stderr}`);
  assert.deepEqual(
    jsonLines(r.stdout).map((l) => l.message),
    ["order created", "payment failed card declined", "listening", "request", "shutting down"],
  );
  assert.equal(await server!.waitCount("service=orders", before + 5), before + 5);
  assert.equal(await server!.count("service=orders&q=shutting"), 1);
});

const rootReadme = readFileSync(join(repoRoot, "README.md"), "utf8");
const rootNode = jsBlocks(rootReadme.slice(rootReadme.indexOf("Node, one winston transport")))[0];

test("root README's Node snippet: a complete program that delivers, when it ends and on SIGTERM", { skip, timeout: 180_000 }, async () => {
  assert.ok(rootNode !== undefined, "the root README has a Node snippet");
  const code = pointed(rootNode);
  const ended = await runProgram("root.mjs", code);
  assert.equal(ended.code, 0, ended.stderr);
  assert.deepEqual(jsonLines(ended.stdout).map((l) => l.message), ["payment accepted"]);
  assert.equal(await server!.waitCount("service=payments", 1), 1);

  // A service: something keeps the process alive until SIGTERM.
  const signalled = await runProgram("root-service.mjs", code, {
    args: ["--import", "data:text/javascript,setInterval(() => {}, 1000)"],
    when: /payment accepted/,
    act: (p) => p.kill("SIGTERM"),
  });
  assert.equal(signalled.signal, "SIGTERM", `the signal's default action ended it: ${signalled.stderr}`);
  assert.equal(await server!.waitCount("service=payments", 2), 2);
});
