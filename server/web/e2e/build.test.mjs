// The dashboard is embedded from server/internal/webui/dist, which is
// committed so `go build` never needs Node. This fails when a fresh build
// of the sources would differ from what is committed.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { repoRoot, webDir } from "./harness.mjs";

const run = promisify(execFile);
const committed = path.join(repoRoot, "server", "internal", "webui", "dist");

function files(dir, base = dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, base));
    else out.push(path.relative(base, p));
  }
  return out.sort();
}

test("a fresh `npm run build` reproduces the committed embedded assets", async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), "sawmill-web-build-"));
  try {
    await run("npm", ["run", "build", "--", "--outDir", out, "--emptyOutDir"], { cwd: webDir, maxBuffer: 16 << 20 });
    const fresh = files(out);
    assert.ok(fresh.includes("index.html"), "the build has an index.html");
    assert.deepEqual(files(committed), fresh, "server/internal/webui/dist has other files than a fresh build: run `npm run build` in server/web and commit");
    for (const f of fresh) {
      assert.ok(readFileSync(path.join(out, f)).equals(readFileSync(path.join(committed, f))), `${f} differs from a fresh build: run \`npm run build\` in server/web and commit`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("the embedded assets are committed as built", async (t) => {
  let st;
  try {
    st = await run("git", ["status", "--porcelain", "--", "server/internal/webui/dist"], { cwd: repoRoot });
  } catch {
    t.skip("not a git checkout");
    return;
  }
  assert.equal(st.stdout.trim(), "", "server/internal/webui/dist has uncommitted changes: commit the build");
});

test("the built page has no inline script or style", () => {
  const html = readFileSync(path.join(committed, "index.html"), "utf8");
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, "every <script> has a src (the CSP forbids inline scripts)");
  assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, "no inline styles or event handlers");
});
