// Clock: wall-clock time in unix nanoseconds with nanosecond resolution,
// monotonic between re-syncs with Date.now() (once a second), so records
// logged within one millisecond keep their order.

const RESYNC_NS = 1_000_000_000n;

export class Clock {
  private baseWall = 0n;
  private baseMono = 0n;

  constructor() {
    this.resync();
  }

  private resync(): void {
    this.baseMono = process.hrtime.bigint();
    this.baseWall = BigInt(Date.now()) * 1_000_000n;
  }

  /** nowNs returns the current time in unix nanoseconds. */
  nowNs(): bigint {
    const mono = process.hrtime.bigint();
    const elapsed = mono - this.baseMono;
    if (elapsed > RESYNC_NS) {
      const wall = BigInt(Date.now()) * 1_000_000n;
      const next = this.baseWall + elapsed;
      this.baseMono = mono;
      // Never step backwards by less than a millisecond of drift.
      this.baseWall = wall > next || next - wall > 1_000_000n ? wall : next;
      return this.baseWall;
    }
    return this.baseWall + elapsed;
  }
}
