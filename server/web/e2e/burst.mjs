// The full standard-workload burst against the dashboard (opt-in, not part
// of `npm test`): 3 services x 100,000 logs/s for 5 s through
// examples/loadgen while the live tail and the overview are open. Prints
// what it measured; screenshots go to the artifacts dir.
//
//	npm run burst            (SAWMILL_BURST_RATE / SAWMILL_BURST_DURATION override)

import { measureBurst } from "./burstlib.mjs";
import { artifactsDir, launchBrowser, startServer } from "./harness.mjs";

const rate = Number(process.env.SAWMILL_BURST_RATE ?? 100000);
const duration = process.env.SAWMILL_BURST_DURATION ?? "5s";

const server = await startServer();
const browser = await launchBrowser().catch(async (e) => {
  await server.stop();
  throw e;
});
try {
  const r = await measureBurst(server, browser, { rate, duration, shots: "full-burst" });
  console.log(JSON.stringify(r, null, 2));
  console.log(`
burst: ${r.services} x ${rate}/s for ${duration}: ${r.ingested} records ingested in ${r.ingestSeconds.toFixed(1)} s (loadgen exit codes ${r.loadgenExit.join(",")})
dashboard tail lag behind the records' times: p50 ${r.tailLagMs.p50} ms, p95 ${r.tailLagMs.p95} ms, max ${r.tailLagMs.max} ms (${r.tailLagMs.n} samples)
the server's live feed alone (SSE arrival, no rendering): p50 ${r.feedLagMs.p50} ms, p95 ${r.feedLagMs.p95} ms, max ${r.feedLagMs.max} ms
click-to-update: p50 ${r.clickToUpdateMs.p50} ms, p95 ${r.clickToUpdateMs.p95} ms, max ${r.clickToUpdateMs.max} ms
animation-frame gaps: p50 ${r.frameGapMs.p50} ms, p95 ${r.frameGapMs.p95} ms, max ${r.frameGapMs.max} ms
store lag (ingested - stored): p50 ${r.storeLagRecords.p50}, max ${r.storeLagRecords.max} records; store caught up ${r.storeCaughtUpMsAfterIngest} ms after ingest ended
tail sampled: ${r.skippedByServer} skipped by the server; ${r.tailRows} rows on the page
screenshots: ${artifactsDir}/full-burst-*.png`);
  process.exitCode = r.loadgenExit.every((c) => c === 0) && r.pageErrors.length === 0 ? 0 : 1;
} finally {
  await browser.close();
  await server.stop();
}
