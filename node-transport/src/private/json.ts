// Attribute JSON writer: turns arbitrary JavaScript values into the one JSON
// object per record that sawmill.v1.LogRecord.attributes_json carries, following
// the type rules of proto/sawmill/v1/log.proto:
//
//   - integers (safe JS integers, BigInt within int64) without fraction or
//     exponent; every other finite number with a fraction or exponent, so int
//     and double stay distinct; NaN/Infinity as "NaN", "+Inf", "-Inf";
//   - bytes (Buffer, Uint8Array, ArrayBuffer, DataView) as {"$bytes":"<base64>"};
//     user keys starting with "$" are reserved by the wire format and are
//     written with a "_" prefix ("$foo" -> "_$foo");
//   - at most maxKeys keys at the top level, nesting at most maxDepth deep,
//     at most maxBytes of UTF-8 in total: whatever is cut short ends with the
//     marker "…[truncated]";
//   - nothing throws: circular references become "[Circular]", throwing
//     getters, toJSON methods and proxies become "[Unserializable: …]",
//     Symbols and functions their description, undefined is left out of
//     objects (as JSON.stringify does) and written as null inside arrays.
//
// The writer never walks more of a value than its budget allows, so a huge
// value costs at most maxBytes of work, not its own size.

/** The marker every value cut short ends with. */
export const TRUNCATED = "…[truncated]";
const QUOTED_TRUNCATED = JSON.stringify(TRUNCATED);

/** Limits of one attributes document. */
export interface JsonLimits {
  /** Most UTF-8 bytes of the whole document. */
  readonly maxBytes: number;
  /** Most keys of the top-level object. */
  readonly maxKeys: number;
  /** Most nesting levels; the top-level object is level 1. */
  readonly maxDepth: number;
  /** Most UTF-16 code units of one string value before it is truncated. */
  readonly maxStringLength: number;
}

/** The server's limits (log.proto) with an 8 Ki-character cap per string. */
export const DEFAULT_LIMITS: JsonLimits = {
  maxBytes: 64 * 1024,
  maxKeys: 128,
  maxDepth: 16,
  maxStringLength: 8 * 1024,
};


// Characters the server refuses inside JSON strings even when escaped:
// unpaired UTF-16 surrogates (they are not Unicode text). NUL is fine: it
// travels as the escape \u0000 (the PostgreSQL store keeps it as U+FFFD).
const UNSTORABLE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

// eslint-disable-next-line no-control-regex -- control characters need escaping
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/**
 * quote returns s as a JSON string literal the server stores: unpaired
 * surrogates become U+FFFD. JSON.stringify escapes them as \uXXXX, so the
 * slower path runs only when the literal holds a \u escape.
 */
export function quote(s: string): string {
  // Most strings need no escaping at all: skip JSON.stringify's copy.
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  const q = JSON.stringify(s);
  if (q.indexOf("\\u") === -1) return q;
  return JSON.stringify(s.replace(UNSTORABLE, "\ufffd"));
}

/** formatNumber writes a JS number by the int/double rule. */
export function formatNumber(n: number): string {
  if (Number.isSafeInteger(n)) {
    return n === 0 ? "0" : String(n);
  }
  if (Number.isFinite(n)) {
    const s = String(n);
    // Non-integers always print a "." or an exponent; integral doubles beyond
    // 2^53 print plain digits and get a fraction so they stay doubles.
    return s.includes(".") || s.includes("e") ? s : s + ".0";
  }
  if (Number.isNaN(n)) return '"NaN"';
  return n > 0 ? '"+Inf"' : '"-Inf"';
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** formatBigInt writes a BigInt as an integer when it fits int64, else as its decimal string. */
export function formatBigInt(n: bigint): string {
  const s = n.toString();
  return n >= INT64_MIN && n <= INT64_MAX ? s : JSON.stringify(s);
}

/** truncateString cuts s to at most max code units (never splitting a surrogate pair) and appends the marker. */
export function truncateString(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = Math.max(0, max - TRUNCATED.length);
  const c = s.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--; // do not leave a lone high surrogate
  return s.slice(0, cut) + TRUNCATED;
}

function bytesOf(v: object): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v) && v instanceof DataView) {
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  return undefined;
}

function base64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

function describeThrown(e: unknown): string {
  try {
    return e instanceof Error ? e.message : String(e);
  } catch {
    return "unknown";
  }
}

/**
 * JsonWriter writes one attributes document. A writer is reusable: call
 * begin(), then key()/value() pairs for the top level, then end().
 */
export class JsonWriter {
  private out = "";
  private budget = 0;
  private keys = 0;
  private skippedKeys = 0;
  private readonly ancestors: object[] = [];
  private readonly limits: JsonLimits;

  constructor(limits: JsonLimits = DEFAULT_LIMITS) {
    this.limits = limits;
  }

  /** begin starts a new top-level object with the given character budget. */
  begin(budget = this.limits.maxBytes): void {
    this.out = "{";
    // Keep room for what may still be written once the budget is spent: at
    // most one key and a marker per nesting level, closing brackets and the
    // "_truncated" key.
    this.budget = budget - 1024;
    this.keys = 0;
    this.skippedKeys = 0;
    this.ancestors.length = 0;
  }

  /** full reports whether the document can take no more keys. */
  get full(): boolean {
    return this.budget <= 0 || this.keys >= this.limits.maxKeys - 1;
  }

  /** field writes one top-level key and value; undefined values are skipped. */
  field(key: string, value: unknown): void {
    if (value === undefined) return;
    if (this.full || this.budget < key.length + 32) {
      this.skippedKeys++;
      return;
    }
    this.writeKey(key);
    this.keys++;
    this.writeValue(value, 2);
  }

  /** fieldRaw writes a top-level key whose value is already valid JSON text. */
  fieldRaw(key: string, json: string): void {
    if (this.full) {
      this.skippedKeys++;
      return;
    }
    this.writeKey(key);
    this.keys++;
    this.emit(json);
  }

  /** count is the number of top-level keys written so far. */
  get count(): number {
    return this.keys;
  }

  /** end closes the document and returns it ("" when it has no keys). */
  end(): string {
    if (this.skippedKeys > 0) {
      if (this.keys > 0) this.emit(",");
      this.out += `"_truncated":${JSON.stringify(`${this.skippedKeys} more keys${TRUNCATED}`)}`;
      this.keys++;
    }
    if (this.keys === 0) return "";
    const doc = this.out + "}";
    this.out = "";
    return doc;
  }

  /** valueText writes any value on its own as JSON text (used for non-string messages). */
  valueText(value: unknown, budget: number): string {
    const saveOut = this.out;
    const saveBudget = this.budget;
    this.out = "";
    this.budget = budget;
    this.ancestors.length = 0;
    if (value === undefined) this.out = "null";
    else this.writeValue(value, 1);
    const text = this.out;
    this.out = saveOut;
    this.budget = saveBudget;
    return text;
  }

  private emit(s: string): void {
    this.out += s;
    this.budget -= s.length;
  }

  private writeKey(key: string): void {
    if (this.keys > 0) this.emit(",");
    if (key.charCodeAt(0) === 0x24 /* $ */) key = "_" + key;
    if (key.length > 256) key = truncateString(key, 256);
    this.emit(quote(key));
    this.emit(":");
  }

  private writeString(s: string): void {
    const avail = Math.max(this.budget - 2, 0);
    const max = Math.min(this.limits.maxStringLength, avail);
    if (s.length > max) s = truncateString(s, Math.max(max, TRUNCATED.length));
    let quoted = quote(s);
    if (quoted.length > avail + 2 && s.length > TRUNCATED.length) {
      // Escapes made it longer than the budget: cut in proportion.
      const fit = Math.floor((s.length * avail) / quoted.length);
      quoted = quote(truncateString(s, Math.max(fit, TRUNCATED.length)));
    }
    this.emit(quoted);
  }

  private writeValue(v: unknown, depth: number): void {
    switch (typeof v) {
      case "string":
        this.writeString(v);
        return;
      case "number":
        this.emit(formatNumber(v));
        return;
      case "boolean":
        this.emit(v ? "true" : "false");
        return;
      case "bigint":
        this.emit(formatBigInt(v));
        return;
      case "undefined":
        this.emit("null");
        return;
      case "symbol":
        this.writeString(v.toString());
        return;
      case "function":
        this.writeString(`[Function: ${v.name || "anonymous"}]`);
        return;
      case "object":
        if (v === null) {
          this.emit("null");
          return;
        }
        this.writeObject(v, depth);
        return;
    }
  }

  private writeObject(v: object, depth: number): void {
    if (this.ancestors.includes(v)) {
      this.writeString("[Circular]");
      return;
    }
    const mark = this.out.length;
    const budget = this.budget;
    try {
      const bytes = bytesOf(v);
      if (bytes !== undefined) {
        // {"$bytes": ...} is an object: it counts as a nesting level too.
        if (depth > this.limits.maxDepth) this.writeString(`[${bytes.byteLength} bytes]${TRUNCATED}`);
        else this.writeBytes(bytes);
        return;
      }
      if (v instanceof Date) {
        const t = v.getTime();
        this.writeString(Number.isNaN(t) ? "Invalid Date" : v.toISOString());
        return;
      }
      if (depth > this.limits.maxDepth) {
        this.writeString((Array.isArray(v) ? "[Array]" : "[Object]") + TRUNCATED);
        return;
      }
      if (this.budget <= 0) {
        this.emit(QUOTED_TRUNCATED);
        return;
      }
      this.ancestors.push(v);
      try {
        if (Array.isArray(v)) this.writeArray(v, depth);
        else if (v instanceof Error) this.writeError(v, depth);
        else if (v instanceof Map) this.writeMap(v, depth);
        else if (v instanceof Set) this.writeArray(Array.from(v), depth);
        else if (ArrayBuffer.isView(v)) this.writeArray(Array.from(v as unknown as ArrayLike<number>), depth);
        else if (typeof (v as { toJSON?: unknown }).toJSON === "function") {
          const j: unknown = (v as { toJSON: () => unknown }).toJSON();
          if (j !== null && typeof j === "object") this.writeFields(j, depth);
          else this.writeValue(j, depth);
        } else if (v instanceof Number || v instanceof String || v instanceof Boolean) {
          this.writeValue(v.valueOf(), depth);
        } else if (v instanceof RegExp) {
          this.writeString(String(v));
        } else {
          this.writeFields(v, depth);
        }
      } finally {
        this.ancestors.pop();
      }
    } catch (e) {
      // Roll back whatever part of the value was written.
      this.out = this.out.slice(0, mark);
      this.budget = budget;
      this.writeString(`[Unserializable: ${describeThrown(e)}]`);
    }
  }

  private writeBytes(b: Uint8Array): void {
    // base64 grows by 4/3; cut the bytes so the text fits the budget.
    const maxBytes = Math.floor((Math.min(this.budget, this.limits.maxStringLength) * 3) / 4);
    if (b.byteLength > maxBytes) {
      // A cut byte string cannot carry the marker inside valid base64, so it
      // becomes a string saying what it was.
      this.writeString(`[${b.byteLength} bytes]${TRUNCATED}`);
      return;
    }
    this.emit(`{"$bytes":"${base64(b)}"}`);
  }

  private writeArray(a: readonly unknown[], depth: number): void {
    this.emit("[");
    const n = a.length;
    for (let i = 0; i < n; i++) {
      if (i > 0) this.emit(",");
      if (this.budget <= 0) {
        this.emit(QUOTED_TRUNCATED);
        break;
      }
      this.writeValue(a[i], depth + 1);
    }
    this.emit("]");
  }

  private writeMap(m: Map<unknown, unknown>, depth: number): void {
    this.emit("{");
    let first = true;
    for (const [k, val] of m) {
      if (val === undefined) continue;
      if (!first) this.emit(",");
      first = false;
      if (this.budget <= 0) {
        this.emit(`"_truncated":${QUOTED_TRUNCATED}`);
        break;
      }
      this.writeNestedKey(typeof k === "string" ? k : String(k));
      this.writeValue(val, depth + 1);
    }
    this.emit("}");
  }

  private writeNestedKey(key: string): void {
    if (key.charCodeAt(0) === 0x24 /* $ */) key = "_" + key;
    if (key.length > 256) key = truncateString(key, 256);
    this.emit(quote(key));
    this.emit(":");
  }

  private writeFields(o: object, depth: number): void {
    this.emit("{");
    let first = true;
    for (const k in o) {
      if (!Object.hasOwn(o, k)) continue;
      let val: unknown;
      try {
        val = (o as Record<string, unknown>)[k];
      } catch (e) {
        val = `[Unserializable: ${describeThrown(e)}]`;
      }
      if (val === undefined) continue;
      if (!first) this.emit(",");
      first = false;
      if (this.budget <= 0) {
        this.emit(`"_truncated":${QUOTED_TRUNCATED}`);
        break;
      }
      this.writeNestedKey(k);
      this.writeValue(val, depth + 1);
    }
    this.emit("}");
  }

  private writeError(e: Error, depth: number): void {
    this.emit("{");
    this.writeNestedKey("type");
    this.writeString(errorType(e));
    this.emit(",");
    this.writeNestedKey("message");
    this.writeString(String(e.message));
    if (typeof e.stack === "string") {
      this.emit(",");
      this.writeNestedKey("stack");
      this.writeString(e.stack);
    }
    for (const k in e) {
      if (!Object.hasOwn(e, k) || k === "type" || k === "message" || k === "stack") continue;
      const val = (e as unknown as Record<string, unknown>)[k];
      if (val === undefined) continue;
      this.emit(",");
      if (this.budget <= 0) {
        this.emit(`"_truncated":${QUOTED_TRUNCATED}`);
        break;
      }
      this.writeNestedKey(k);
      this.writeValue(val, depth + 1);
    }
    const cause = (e as { cause?: unknown }).cause;
    // Error's own "cause" is not enumerable, so the loop above skipped it.
    if (cause !== undefined && this.budget > 0 && !Object.prototype.propertyIsEnumerable.call(e, "cause")) {
      this.emit(",");
      this.writeNestedKey("cause");
      this.writeValue(cause, depth + 1);
    }
    this.emit("}");
  }
}

/**
 * errorProps returns what an Error carries besides its type, message and stack
 * (which the record's error field holds): its own enumerable properties (code,
 * errno, syscall, address, port, a database error's detail and constraint,
 * ...), and, for its causes and aggregated errors that carry any, the same
 * under "cause" and "errors". It returns undefined when there is nothing, so
 * the attributes stay as they were. The result is a plain object the
 * JsonWriter writes within its limits; it never throws.
 */
export function errorProps(e: Error): Record<string, unknown> | undefined {
  return propsOf(e, [], 0);
}

const MAX_PROPS_CHAIN = 8;

function propsOf(e: object, seen: object[], depth: number): Record<string, unknown> | undefined {
  if (depth >= MAX_PROPS_CHAIN || seen.includes(e)) return undefined;
  seen.push(e);
  let out: Record<string, unknown> | undefined;
  try {
    for (const k in e) {
      if (!Object.hasOwn(e, k) || k === "message" || k === "stack") continue;
      let v: unknown;
      try {
        v = (e as Record<string, unknown>)[k];
      } catch (err) {
        v = `[Unserializable: ${describeThrown(err)}]`;
      }
      if (v === undefined) continue;
      if ((k === "cause" || k === "errors") && isErrorChain(v)) continue; // below, as props
      (out ??= {})[k] = v;
    }
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const p = propsOf(cause, seen, depth + 1);
      if (p !== undefined) (out ??= {}).cause = p;
    }
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.some((x) => x instanceof Error)) {
      let any = false;
      const list = errors.slice(0, MAX_PROPS_CHAIN).map((x) => {
        const p = x instanceof Error ? propsOf(x, seen, depth + 1) : undefined;
        if (p !== undefined) any = true;
        return p ?? null;
      });
      if (any) (out ??= {}).errors = list;
    }
  } catch (err) {
    return { _unreadable: `[Unserializable: ${describeThrown(err)}]` };
  }
  return out;
}

/** isErrorChain reports whether v is an Error, or an array holding one (AggregateError.errors). */
function isErrorChain(v: unknown): boolean {
  return v instanceof Error || (Array.isArray(v) && v.some((x) => x instanceof Error));
}

/** errorType names an error's type: its name, else its constructor's name, else "Error". */
export function errorType(e: Error): string {
  try {
    const name = e.name;
    if (typeof name === "string" && name !== "" && name !== "Error") return name;
    const ctor = (e as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof ctor === "string" && ctor !== "") return ctor;
    return typeof name === "string" && name !== "" ? name : "Error";
  } catch {
    return "Error";
  }
}
