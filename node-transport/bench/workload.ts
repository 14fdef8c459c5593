// The standard workload's record shape (BENCHMARKS.md, "The workload"): level 70% info,
// 20% debug, 8% warn, 2% error; templated messages with random ids (1 in 50
// in Korean); attributes trace_id, span_id, http_method, http_path,
// http_status (int), duration_ms (double), user_id (int). Seeded, so every
// run logs the same records.

export interface WorkloadRecord {
  level: string;
  message: string;
  meta: Record<string, unknown>;
}

/** mulberry32: a small seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METHODS = ["GET", "POST", "PUT", "DELETE"];
const PATHS = ["/orders", "/orders/:id", "/payments", "/users/:id", "/login"];

function hex(r: () => number, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += Math.floor(r() * 16).toString(16);
  return s;
}

/** makeRecords returns n workload records for one service. */
export function makeRecords(n: number, seed = 1): WorkloadRecord[] {
  const r = rng(seed);
  const out: WorkloadRecord[] = [];
  for (let i = 0; i < n; i++) {
    const p = r();
    const level = p < 0.7 ? "info" : p < 0.9 ? "debug" : p < 0.98 ? "warn" : "error";
    const id = Math.floor(r() * 1_000_000);
    const user = Math.floor(r() * 100_000);
    const t = r();
    const message =
      r() < 0.02
        ? `주문 ${id} 처리 완료`
        : t < 0.33
          ? `order ${id} created for user ${user} in ${Math.floor(r() * 100)} ms`
          : t < 0.66
            ? `payment ${id} authorised amount=${Math.floor(r() * 10000)} KRW`
            : `user ${user} logged in from 10.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}`;
    out.push({
      level,
      message,
      meta: {
        trace_id: hex(r, 32),
        span_id: hex(r, 16),
        http_method: METHODS[Math.floor(r() * METHODS.length)],
        http_path: PATHS[Math.floor(r() * PATHS.length)],
        http_status: r() < 0.95 ? 200 : 500,
        duration_ms: Math.round(r() * 100000) / 1000 + 0.001,
        user_id: user,
      },
    });
  }
  return out;
}
