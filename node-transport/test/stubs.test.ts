// The committed protobuf stubs (src/gen) are exactly what `buf generate`
// makes from proto/ with the pinned protoc-gen-es: regenerate into a temp
// directory and compare. Skipped when the monorepo's codegen tools are not
// installed (`npm ci` at the repository root).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { repoRoot } from "./server.js";

const buf = join(repoRoot, "node_modules", ".bin", "buf");
const plugin = join(repoRoot, "node_modules", ".bin", "protoc-gen-es");
const skip = existsSync(buf) && existsSync(plugin) ? false : "buf/protoc-gen-es not installed at the repository root (run npm ci there)";

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) files(p, out);
    else out.push(p);
  }
  return out;
}

test("src/gen matches buf generate", { skip, timeout: 120_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "sawmill-stubs-"));
  try {
    cpSync(join(repoRoot, "proto"), join(work, "proto"), { recursive: true });
    cpSync(join(repoRoot, "buf.yaml"), join(work, "buf.yaml"));
    // Only the TypeScript plugin, with the options of the repository's buf.gen.yaml.
    const gen = readFileSync(join(repoRoot, "buf.gen.yaml"), "utf8");
    const opt = /protoc-gen-es\s*\n\s*out: node-transport\/src\/gen\s*\n\s*opt: (.+)/.exec(gen);
    assert.ok(opt !== null, "buf.gen.yaml has the protoc-gen-es plugin for node-transport/src/gen");
    writeFileSync(join(work, "buf.gen.yaml"), `version: v2\nclean: true\nplugins:\n  - local: ${plugin}\n    out: gen-ts\n    opt: ${opt[1]}\n`);
    execFileSync(buf, ["generate"], { cwd: work, stdio: "pipe" });
    const want = join(work, "gen-ts");
    const have = join(repoRoot, "node-transport", "src", "gen");
    const wantFiles = files(want).map((f) => relative(want, f)).sort();
    assert.deepEqual(files(have).map((f) => relative(have, f)).sort(), wantFiles);
    for (const f of wantFiles) {
      assert.equal(readFileSync(join(have, f), "utf8"), readFileSync(join(want, f), "utf8"), `${f} is stale: run npx buf generate`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
