// The standard "seed-burst" workload's records (BENCHMARKS.md, "The workload"), the
// same shape as examples/loadgen/workload: level 70% info, 20% debug, 8% warn,
// 2% error; templated messages with random ids, about 1 in 50 in Korean;
// attributes trace_id (32 hex), span_id (16 hex), http_method, http_path,
// http_status (int), duration_ms (double), user_id (int). Seeded, so a run
// logs the same records every time.

/**
 * @typedef {{ level: "debug" | "info" | "warn" | "error", message: string, meta: Record<string, string | number> }} Entry
 */

const METHODS = ["GET", "POST", "PUT", "DELETE"];
const STATUSES = [200, 200, 200, 201, 204, 400, 404, 500];
const HEX = "0123456789abcdef";

/** A workload generator for one service (mulberry32 PRNG). */
export class Workload {
  /**
   * @param {string} service
   * @param {number} seed
   */
  constructor(service, seed) {
    this.service = service;
    let h = seed >>> 0;
    for (let i = 0; i < service.length; i++) h = Math.imul(h ^ service.charCodeAt(i), 0x9e3779b1) >>> 0;
    this.state = h;
  }

  /** @returns {number} a float in [0, 1) */
  next() {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** @param {number} n */
  int(n) {
    return Math.floor(this.next() * n);
  }

  /** @param {number} n */
  hex(n) {
    let s = "";
    for (let i = 0; i < n; i++) s += HEX[this.int(16)];
    return s;
  }

  /** @returns {Entry} */
  entry() {
    const p = this.int(100);
    const level = p < 70 ? "info" : p < 90 ? "debug" : p < 98 ? "warn" : "error";
    const id = this.int(1_000_000);
    let message;
    if (this.int(50) === 0) {
      message = `주문 ${id} 처리 완료`;
    } else {
      switch (this.int(3)) {
        case 0:
          message = `order ${id} created for user ${this.int(100_000)} in ${this.int(500)} ms`;
          break;
        case 1:
          message = `payment ${id} authorised amount=${this.int(100_000)} KRW`;
          break;
        default:
          message = `user ${id} logged in from 10.${this.int(256)}.${this.int(256)}.${this.int(256)}`;
      }
    }
    return {
      level,
      message,
      meta: {
        trace_id: this.hex(32),
        span_id: this.hex(16),
        http_method: METHODS[this.int(METHODS.length)],
        http_path: `/api/${this.service}/${this.int(1_000_000)}`,
        http_status: STATUSES[this.int(STATUSES.length)],
        // Always with a fraction, so it stays a double on the wire.
        duration_ms: this.int(500_000) / 1000 + 0.001,
        user_id: this.int(100_000),
      },
    };
  }
}
