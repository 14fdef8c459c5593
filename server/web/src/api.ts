// Client of the sawmill HTTP JSON API (server/internal/query/http.go).

export interface Entry {
  id: string;
  service: string;
  instance?: string;
  environment?: string;
  version?: string;
  resource_attributes?: Record<string, unknown>;
  time: string;
  time_unix_nano: string;
  observed_time?: string;
  severity_number: number;
  severity_text?: string;
  level: string;
  body: string;
  attributes?: Record<string, unknown>;
  trace_id?: string;
  span_id?: string;
  logger?: string;
  source?: { file?: string; line?: number; function?: string };
  error?: { type?: string; message?: string; stack?: string };
}

export interface Page {
  logs: Entry[];
  next_cursor?: string;
}

export interface Detail {
  log: Entry;
  before: Entry[];
  after: Entry[];
}

export interface Bucket {
  start: string;
  service: string;
  level: string;
  severity: number;
  count: number;
}

export interface Stats {
  step_seconds: number;
  from: string;
  to: string;
  buckets: Bucket[];
}

export interface Service {
  name: string;
  last_seen?: string;
  rate_per_second: number;
  total: number;
}

export interface LivePoint {
  second: number;
  service: string;
  levels: Record<string, number>;
}

export interface Live {
  now: number;
  points: LivePoint[] | null;
}

export interface Status {
  queue_batches: number;
  queue_bytes: number;
  ingested_records: number;
  stored_records: number;
  /** Records of batches refused for good (invalid). */
  rejected_records: number;
  /** Records of batches answered "retry later" (queue or disk full, a dependency away); clients retry them. */
  refused_records: number;
  live_dropped_batches: number;
  mode: string;
  /** Why ingest refuses batches for want of disk space (embedded mode); absent while it accepts them. */
  disk_refusing?: string;
}

export interface Recent {
  services: { service: string; logs: Entry[] }[];
}

export interface TailEvent {
  logs: Entry[];
  skipped: number;
}

/** TailGap is the data of a tail "gap" event: records may be missing from the tail between from and to (they are stored). */
export interface TailGap {
  from: string;
  to: string;
  /** null when the count is unknown. */
  missed_records: number | null;
  reason: string;
}

const tokenKey = "sawmill.token";

export function getToken(): string {
  try {
    return localStorage.getItem(tokenKey) ?? "";
  } catch {
    return "";
  }
}

export function setToken(t: string): void {
  try {
    if (t) localStorage.setItem(tokenKey, t);
    else localStorage.removeItem(tokenKey);
  } catch {
    // storage may be disabled; the token then lives only in this page
  }
}

/** ApiError is a failed request; status 401 means a token is needed. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type UnauthorizedHandler = () => void;
let onUnauthorized: UnauthorizedHandler = () => undefined;

/** setUnauthorizedHandler is called whenever the server answers 401. */
export function setUnauthorizedHandler(f: UnauthorizedHandler): void {
  onUnauthorized = f;
}

/** get fetches an API path (with query) as JSON. */
export async function get<T>(path: string, params?: URLSearchParams, signal?: AbortSignal): Promise<T> {
  const url = params && params.size > 0 ? `${path}?${params.toString()}` : path;
  const headers: Record<string, string> = { Accept: "application/json" };
  const tok = getToken();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  const init: RequestInit = { headers, cache: "no-store" };
  if (signal) init.signal = signal;
  const res = await fetch(url, init);
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    let field: string | undefined;
    try {
      const body = (await res.json()) as { error?: string; field?: string };
      if (body.error) msg = body.error;
      field = body.field;
    } catch {
      // not JSON
    }
    if (res.status === 401) onUnauthorized();
    throw new ApiError(res.status, msg, field);
  }
  return (await res.json()) as T;
}

/** tailURL is the EventSource URL of the live tail (the token rides as access_token). */
export function tailURL(params: URLSearchParams): string {
  const p = new URLSearchParams(params);
  const tok = getToken();
  if (tok) p.set("access_token", tok);
  return `/api/v1/tail?${p.toString()}`;
}

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
