// Severity mapping: winston level names -> OpenTelemetry severity numbers
// (sawmill.v1.SeverityNumber, 1-24).
//
// Order of precedence for a level name:
//   1. the user's `severities` option (exact name);
//   2. the npm, syslog and cli level sets winston ships (and common aliases);
//   3. for any other custom level: its rank in the logger's own level map
//      (0 = most severe), spread over FATAL..TRACE.
// Unknown names without a level map fall back to INFO (9).

/** Canonical OpenTelemetry severity numbers. */
export const Severity = {
  TRACE: 1,
  DEBUG: 5,
  INFO: 9,
  WARN: 13,
  ERROR: 17,
  FATAL: 21,
} as const;

/** Known winston level names (npm, syslog, cli) and common aliases. */
export const KNOWN_SEVERITIES: Readonly<Record<string, number>> = {
  // npm levels (winston's default)
  error: 17,
  warn: 13,
  info: 9,
  http: 8,
  verbose: 6,
  debug: 5,
  silly: 1,
  // syslog levels
  emerg: 24,
  alert: 23,
  crit: 21,
  warning: 13,
  notice: 10,
  // cli levels
  help: 11,
  data: 10,
  prompt: 4,
  input: 2,
  // common custom names
  fatal: 21,
  critical: 21,
  panic: 22,
  emergency: 24,
  trace: 1,
  err: 17,
};

const RANK_SCALE = [21, 17, 13, 9, 5, 1] as const;

/** SeverityMapper resolves level names to severity numbers, caching results. */
export class SeverityMapper {
  private readonly cache = new Map<string, number>();
  private levels: Record<string, number> | undefined;

  constructor(private readonly overrides: Readonly<Record<string, number>> = {}) {}

  /** setLevels gives the logger's level map (name -> priority, 0 = most severe); it clears the cache. */
  setLevels(levels: Record<string, number> | undefined): void {
    if (levels === this.levels) return;
    this.levels = levels;
    this.cache.clear();
  }

  /** severity returns the severity number (1-24) for a level name. */
  severity(level: string): number {
    const hit = this.cache.get(level);
    if (hit !== undefined) return hit;
    const n = this.resolve(level);
    if (this.cache.size < 1024) this.cache.set(level, n);
    return n;
  }

  private resolve(level: string): number {
    const own = this.overrides[level];
    if (own !== undefined && Number.isInteger(own) && own >= 1 && own <= 24) return own;
    const known = KNOWN_SEVERITIES[level.toLowerCase()];
    if (known !== undefined) return known;
    const levels = this.levels;
    if (levels !== undefined && Object.prototype.hasOwnProperty.call(levels, level)) {
      const priorities = Object.values(levels).filter((v) => typeof v === "number");
      const min = Math.min(...priorities);
      const max = Math.max(...priorities);
      const p = levels[level];
      if (typeof p === "number" && max > min) {
        const idx = Math.round(((p - min) / (max - min)) * (RANK_SCALE.length - 1));
        return RANK_SCALE[Math.min(Math.max(idx, 0), RANK_SCALE.length - 1)] ?? Severity.INFO;
      }
    }
    return Severity.INFO;
  }
}
