// The package as users get it: `npm pack`, install the tarball with winston
// into a fresh project, log through it from ESM and from CommonJS (and
// type-check a TypeScript consumer of each kind), and find the logs on a real
// server.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SawmillServer } from "./server.js";

const exec = promisify(execFile);
const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

const started = await SawmillServer.start();
const skip = started instanceof Error ? `sawmill server not available: ${started.message}` : false;
const server = started instanceof Error ? undefined : started;
const work = mkdtempSync(join(tmpdir(), "winston-sawmill-pack-"));

after(async () => {
  await server?.dispose();
  rmSync(work, { recursive: true, force: true });
});

function findFiles(dir: string, match: (name: string) => boolean, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) findFiles(p, match, out);
    else if (match(e.name)) out.push(p);
  }
  return out;
}

test("npm pack -> npm install <tarball> winston -> logs arrive from ESM and CommonJS; the types check for every kind of consumer", { skip, timeout: 1_500_000 }, async () => {
  const s = server!;
  if (!existsSync(join(pkgDir, "dist", "esm", "index.js")) || !existsSync(join(pkgDir, "dist", "cjs", "index.js"))) {
    await exec(process.execPath, [join(pkgDir, "scripts", "build.mjs")], { cwd: pkgDir });
  }
  const { stdout: packOut } = await exec(npm, ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: pkgDir });
  const packed = JSON.parse(packOut) as { filename: string; files: { path: string }[] }[];
  const files = packed[0]!.files.map((f) => f.path);
  for (const want of ["dist/esm/index.js", "dist/esm/index.d.ts", "dist/cjs/index.js", "dist/cjs/index.d.ts", "dist/cjs/package.json", "README.md", "CHANGELOG.md", "package.json"]) {
    assert.ok(files.includes(want), `tarball holds ${want}`);
  }
  assert.ok(!files.some((f) => f.startsWith("src/") || f.startsWith("test/") || f.startsWith("build/")), "no sources or tests in the tarball");
  const tarball = join(work, packed[0]!.filename);

  const app = join(work, "app");
  await exec("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
  // TypeScript 5.x (whose defaults have no esModuleInterop) and the current
  // major, besides the 6.x the package builds with, for the consumer type checks.
  await exec(
    npm,
    ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball, "winston@^3", "@types/node@^20", "ts5@npm:typescript@~5.9.3", "ts7@npm:typescript@^7.0.2"],
    { cwd: app, timeout: 240_000 },
  );
  const native = findFiles(join(app, "node_modules"), (n) => n.endsWith(".node") || n === "binding.gyp");
  assert.deepEqual(native, [], "no native code installed");

  const body = (service: string) => `
    const logger = winston.createLogger({ transports: [new SawmillTransport({ service: "${service}", endpoint: "${s.endpoint}" })] });
    for (let i = 0; i < 25; i++) logger.info("hello from ${service} " + i, { i });
    const t = logger.transports[0];
    const ok = await t.flush(10000);
    await t.close();
    console.log(JSON.stringify({ ok, acked: t.stats().acked }));
  `;
  writeFileSync(join(app, "esm.mjs"), `import winston from "winston";\nimport { SawmillTransport } from "winston-sawmill";\n${body("pack-esm")}`);
  writeFileSync(
    join(app, "cjs.cjs"),
    `const winston = require("winston");\nconst { SawmillTransport } = require("winston-sawmill");\n(async () => {${body("pack-cjs")}})();`,
  );
  for (const [script, service] of [["esm.mjs", "pack-esm"], ["cjs.cjs", "pack-cjs"]] as const) {
    const { stdout } = await exec(process.execPath, [script], { cwd: app, timeout: 30_000 });
    assert.deepEqual(JSON.parse(stdout.trim()), { ok: true, acked: 25 }, script);
    assert.equal(await s.waitCount(`service=${service}`, 25), 25, `${service} stored`);
  }

  await typeChecks(app);
});

/** tsc runs one TypeScript compiler in dir and fails the test with its output when it reports errors. */
async function tsc(dir: string, compiler: string, args: string[], what: string): Promise<void> {
  const bin = compiler === "ts6" ? join(pkgDir, "node_modules", "typescript", "bin", "tsc") : join(dir, "..", "node_modules", compiler, "bin", "tsc"); // the app's, one directory up
  const r = await exec(process.execPath, [bin, ...args], { cwd: dir, timeout: 300_000 }).then(
    () => "",
    (e: { stdout?: string; stderr?: string; message: string }) => `${e.stdout ?? ""}${e.stderr ?? ""}` || e.message,
  );
  assert.equal(r, "", `consumer type check (${what}) failed:\n${r}`);
}

/**
 * typeChecks type-checks consumers of the installed package the ways users
 * compile them: TypeScript 5.x with its defaults (CommonJS, node10
 * resolution, no esModuleInterop, skipLibCheck off: errors inside the
 * package's .d.ts count) with and without esModuleInterop, nodenext ESM and
 * CommonJS files, the tsconfig `tsc --init` writes (exactOptionalPropertyTypes),
 * under 5.x, the 6.x the package builds with and the current major (7.x).
 * Every consumer reads `level` from the options type: winston's own options
 * must be there.
 */
async function typeChecks(app: string): Promise<void> {
  const use = (imports: string) => `${imports}
const opts: SawmillTransportOptions = { service: "typed", level: "info", onFull: "drop-oldest", token: process.env.SAWMILL_TOKEN, onError: (e) => void e.code };
const level: string | undefined = opts.level;
// @ts-expect-error -- level is winston's, a string
const wrong: SawmillTransportOptions = { service: "typed", level: 5 };
const t = new SawmillTransport(opts);
const p: Promise<boolean> = t.flush(1000);
const st: SawmillStats = t.stats();
const logger = winston.createLogger({ level: t.level ?? "info", transports: [t] });
logger.info("typed");
void [level, wrong, p, st];
`;
  const named = `import { SawmillTransport, type SawmillStats, type SawmillTransportOptions } from "winston-sawmill";`;
  // CommonJS project (no "type"), the compilers' defaults.
  const cjs = join(app, "cjs-defaults");
  mkdirSync(cjs, { recursive: true });
  writeFileSync(join(cjs, "package.json"), JSON.stringify({ name: "cjs-defaults", private: true }));
  writeFileSync(join(cjs, "plain.ts"), use(`import * as winston from "winston";\n${named}`));
  writeFileSync(join(cjs, "interop.ts"), use(`import winston from "winston";\n${named}`));
  // ESM project ("type": "module"), files of both kinds, and the tsconfig of `tsc --init`.
  const esm = join(app, "esm");
  mkdirSync(esm, { recursive: true });
  writeFileSync(join(esm, "package.json"), JSON.stringify({ name: "esm", private: true, type: "module" }));
  writeFileSync(join(esm, "index.ts"), use(`import winston from "winston";\n${named}`));
  writeFileSync(join(esm, "other.cts"), use(`import winston = require("winston");\n${named}`));
  // The tsconfig of `tsc --init` (ESM only: it sets verbatimModuleSyntax).
  const init = join(app, "init");
  mkdirSync(init, { recursive: true });
  writeFileSync(join(init, "package.json"), JSON.stringify({ name: "init", private: true, type: "module" }));
  writeFileSync(join(init, "index.ts"), use(`import winston from "winston";\n${named}`));
  // (Packages resolve from the app's node_modules, one directory up.)

  for (const ts of ["ts5", "ts6", "ts7"]) {
    if (ts !== "ts6") await tsc(cjs, ts, ["--noEmit", "--strict", "plain.ts"], `${ts} defaults, no esModuleInterop`);
    await tsc(cjs, ts, ["--noEmit", "--strict", "--esModuleInterop", "interop.ts"], `${ts} defaults with esModuleInterop`);
    await tsc(esm, ts, ["--noEmit", "--strict", "--module", "nodenext", "--target", "es2022", "index.ts", "other.cts"], `${ts} nodenext ESM + CommonJS`);
    rmSync(join(init, "tsconfig.json"), { force: true });
    await tsc(init, ts, ["--init"], `${ts} --init`);
    await tsc(init, ts, ["--noEmit", "-p", "."], `${ts} with the tsconfig of tsc --init`);
  }
}
