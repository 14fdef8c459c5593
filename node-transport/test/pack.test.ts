// The package as users get it: `npm pack`, install the tarball with winston
// into a fresh project, log through it from ESM and from CommonJS (and
// type-check a TypeScript consumer of each kind), and find the logs on a real
// server.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
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

test("npm pack -> npm install <tarball> winston -> logs arrive from ESM and CommonJS", { skip, timeout: 300_000 }, async () => {
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
  await exec(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball, "winston@^3"], { cwd: app, timeout: 240_000 });
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

  // Type declarations resolve for both module kinds.
  const ts = `const t = new SawmillTransport({ service: "typed", level: "info", onFull: "drop-oldest", onError: (e) => e.code });
    const p: Promise<boolean> = t.flush(1000);
    void p;
    const st: SawmillStats = t.stats();
    void st;
    void winston.createLogger({ transports: [t] });\n`;
  writeFileSync(join(app, "typed.mts"), `import winston from "winston";\nimport { SawmillTransport, type SawmillStats } from "winston-sawmill";\n${ts}`);
  writeFileSync(join(app, "typed.cts"), `import winston = require("winston");\nimport { SawmillTransport, type SawmillStats } from "winston-sawmill";\n${ts}`);
  const tsc = join(pkgDir, "node_modules", "typescript", "bin", "tsc");
  await exec(
    process.execPath,
    [tsc, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022",
      "--typeRoots", join(pkgDir, "node_modules", "@types"), "--types", "node", "typed.mts", "typed.cts"],
    { cwd: app },
  ).catch((e: { stdout?: string; message: string }) => {
    assert.fail(`consumer type-check failed: ${e.stdout ?? e.message}`);
  });
});
