// Formatting helpers: levels, times, numbers.

export const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
export type Level = (typeof LEVELS)[number];

/** levelColor is the series colour of a level; errors and warnings stand out. */
export const levelColor: Record<string, string> = {
  trace: "#64748b",
  debug: "#8b5cf6",
  info: "#38bdf8",
  warn: "#f59e0b",
  error: "#ef4444",
  fatal: "#e11d48",
};

const palette = ["#38bdf8", "#a3e635", "#f472b6", "#facc15", "#34d399", "#c084fc", "#fb923c", "#60a5fa", "#4ade80", "#f87171"];

/** serviceColor gives a stable colour per service name. */
export function serviceColor(name: string): string {
  let x = 0;
  for (let i = 0; i < name.length; i++) x = (x * 31 + name.charCodeAt(i)) >>> 0;
  return palette[x % palette.length] ?? "#38bdf8";
}

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");

/** clock formats a time as local HH:MM:SS.mmm. */
export function clock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** dateTime formats a time as local YYYY-MM-DD HH:MM:SS.mmm. */
export function dateTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(iso)}`;
}

/** ago formats how long ago a time was. */
export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "never";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 2) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** num formats an integer with thousands separators. */
export function num(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** rate formats a per-second rate compactly. */
export function rate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M/s`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)}k/s`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k/s`;
  if (n >= 10 || n === 0) return `${n.toFixed(0)}/s`;
  return `${n.toFixed(1)}/s`;
}

/** bytes formats a size. */
export function bytes(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(1)} ${u[i] ?? "B"}`;
}

/** toLocalInput formats a time for <input type="datetime-local">. */
export function toLocalInput(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
