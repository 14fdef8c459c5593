import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_LIMITS, JsonWriter, TRUNCATED, errorProps, formatBigInt, formatNumber, truncateString } from "../src/private/json.js";

function doc(fields: Record<string, unknown>, limits = DEFAULT_LIMITS): string {
  const w = new JsonWriter(limits);
  w.begin();
  for (const [k, v] of Object.entries(fields)) w.field(k, v);
  return w.end();
}

test("numbers: ints without fraction, doubles with one, non-finite as strings", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "0"],
    [42, "42"],
    [-7, "-7"],
    [Number.MAX_SAFE_INTEGER, "9007199254740991"],
    [2 ** 60, "1152921504606847000.0"],
    [1e21, "1e+21"],
    [2.5, "2.5"],
    [1e-9, "1e-9"],
    [0.1, "0.1"],
    [NaN, '"NaN"'],
    [Infinity, '"+Inf"'],
    [-Infinity, '"-Inf"'],
  ];
  for (const [n, want] of cases) assert.equal(formatNumber(n), want, String(n));
  assert.equal(formatBigInt(12n), "12");
  assert.equal(formatBigInt(-(2n ** 63n)), "-9223372036854775808");
  assert.equal(formatBigInt(2n ** 64n), '"18446744073709551616"');
});

test("types: nested objects, arrays, bytes, dates, maps, sets, symbols, functions, undefined", () => {
  const d = doc({
    s: "x",
    i: 3,
    f: 3.25,
    b: true,
    n: null,
    u: undefined,
    nested: { a: [1, 2.5, "three", null, undefined, { deep: true }] },
    buf: Buffer.from([0, 1, 2]),
    u8: new Uint8Array([255]),
    ab: new Uint8Array([1, 2]).buffer,
    date: new Date("2026-01-02T03:04:05.678Z"),
    bad: new Date(NaN),
    map: new Map<unknown, unknown>([["k", 1], [2, "two"]]),
    set: new Set([1, "a"]),
    sym: Symbol("tag"),
    fn: function named() {},
    big: 10n,
    $reserved: 1,
    re: /a+b/g,
    boxed: new Number(4),
    f32: new Float32Array([0.5]),
  });
  assert.equal(
    d,
    '{"s":"x","i":3,"f":3.25,"b":true,"n":null,"nested":{"a":[1,2.5,"three",null,null,{"deep":true}]},' +
      '"buf":{"$bytes":"AAEC"},"u8":{"$bytes":"/w=="},"ab":{"$bytes":"AQI="},"date":"2026-01-02T03:04:05.678Z",' +
      '"bad":"Invalid Date","map":{"k":1,"2":"two"},"set":[1,"a"],"sym":"Symbol(tag)","fn":"[Function: named]",' +
      '"big":10,"_$reserved":1,"re":"/a+b/g","boxed":4,"f32":[0.5]}',
  );
  JSON.parse(d);
});

test("errors inside attributes keep type, message, stack, own fields and cause", () => {
  const cause = new RangeError("inner");
  const e = new TypeError("outer", { cause }) as TypeError & { code?: string };
  e.code = "E_X";
  const v = JSON.parse(doc({ e })) as { e: Record<string, unknown> };
  assert.equal(v.e.type, "TypeError");
  assert.equal(v.e.message, "outer");
  assert.match(String(v.e.stack), /^TypeError: outer/);
  assert.equal(v.e.code, "E_X");
  assert.equal((v.e.cause as Record<string, unknown>).type, "RangeError");
});

test("never throws: circular refs, throwing getters, toJSON and proxies", () => {
  const a: Record<string, unknown> = { name: "a" };
  a.self = a;
  const shared = { x: 1 };
  const getter = Object.defineProperty({}, "boom", { enumerable: true, get: () => { throw new Error("nope"); } });
  const badJson = { toJSON: () => { throw new Error("no json"); } };
  const proxy = new Proxy({}, { ownKeys: () => { throw new Error("trap"); } });
  const d = doc({ a, twice: [shared, shared], getter, badJson, proxy });
  const v = JSON.parse(d) as Record<string, unknown>;
  assert.deepEqual(v.a, { name: "a", self: "[Circular]" });
  assert.deepEqual(v.twice, [{ x: 1 }, { x: 1 }], "a shared, non-circular reference is written twice");
  assert.deepEqual(v.getter, { boom: "[Unserializable: nope]" });
  assert.equal(v.badJson, "[Unserializable: no json]");
  assert.equal(v.proxy, "[Unserializable: trap]");
});

test("limits: depth, top-level keys, string length and total size are cut with the marker", () => {
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 30; i++) deep = { d: deep };
  const dv = JSON.parse(doc({ deep })) as Record<string, unknown>;
  let cur: unknown = dv.deep;
  let levels = 1; // the top-level object
  while (typeof cur === "object" && cur !== null) {
    levels++;
    cur = (cur as Record<string, unknown>).d;
  }
  assert.equal(levels, 16, "nesting is at most 16 deep");
  assert.equal(cur, "[Object]" + TRUNCATED);

  const many: Record<string, unknown> = {};
  for (let i = 0; i < 500; i++) many[`k${i}`] = i;
  const mv = JSON.parse(doc(many)) as Record<string, unknown>;
  assert.equal(Object.keys(mv).length, 128);
  assert.equal(mv._truncated, `373 more keys${TRUNCATED}`);

  const sv = JSON.parse(doc({ s: "y".repeat(100_000) })) as { s: string };
  assert.equal(sv.s.length, DEFAULT_LIMITS.maxStringLength);
  assert.ok(sv.s.endsWith(TRUNCATED));

  const big: Record<string, string> = {};
  for (let i = 0; i < 100; i++) big[`k${i}`] = "z".repeat(5000);
  const bd = doc(big);
  assert.ok(bd.length <= DEFAULT_LIMITS.maxBytes, `document ${bd.length} chars`);
  assert.ok(bd.includes(TRUNCATED));
  JSON.parse(bd);

  const hugeArray = new Array(1_000_000).fill(7);
  const started = process.hrtime.bigint();
  const ad = doc({ hugeArray });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(ad.length <= DEFAULT_LIMITS.maxBytes);
  assert.ok(ad.endsWith(`${JSON.stringify(TRUNCATED)}]}`));
  assert.ok(ms < 1000, `bounded work, took ${ms} ms`);
});

test("truncateString never splits a surrogate pair", () => {
  const s = "a" + "🙂".repeat(100);
  for (let max = 13; max < 40; max++) {
    const t = truncateString(s, max);
    assert.ok(t.length <= max);
    assert.ok(t.endsWith(TRUNCATED));
    assert.equal(Buffer.from(t, "utf8").toString("utf8"), t, "well-formed");
  }
});

test("an empty document is the empty string", () => {
  assert.equal(doc({}), "");
  assert.equal(doc({ u: undefined }), "");
});

test("NUL travels as \\u0000; unpaired surrogates become U+FFFD (the server refuses their escapes)", () => {
  const d = doc({ nul: "a\u0000b", lone: "x\ud800y", low: "\udc00", pair: "🙂", ctl: "\u0001", "k\u0000": 1 });
  assert.ok(!/\\ud[89abcdef]/i.test(d), d);
  assert.ok(d.includes('"a\\u0000b"'), d);
  const v = JSON.parse(d) as Record<string, unknown>;
  assert.equal(v.nul, "a\u0000b");
  assert.equal(v.lone, "x\ufffdy");
  assert.equal(v.low, "\ufffd");
  assert.equal(v.pair, "🙂");
  assert.equal(v.ctl, "\u0001");
  assert.equal(v["k\u0000"], 1);
});

test("bytes count as a nesting level: a Buffer deeper than 16 levels becomes a marked string, not {\"$bytes\"}", () => {
  const depthOf = (v: unknown): number =>
    v === null || typeof v !== "object" ? 0 : 1 + Math.max(0, ...Object.values(v).map(depthOf));
  for (const levels of [14, 15, 16, 17, 20]) {
    let v: unknown = Buffer.from("hi");
    for (let i = 0; i < levels; i++) v = i % 2 === 0 ? [v] : { d: v };
    const d = JSON.parse(doc({ v })) as unknown;
    assert.ok(depthOf(d) <= 16, `${levels} wrappers: depth ${depthOf(d)}`);
    const text = JSON.stringify(d);
    // The top-level object is level 1, so 14 wrappers put the bytes object at level 16, 15 at 17.
    if (levels === 14) assert.ok(text.includes('{"$bytes":"aGk="}'), text);
    if (levels === 15) assert.ok(text.includes(`"[2 bytes]${TRUNCATED}"`), text);
  }
});

test("errorProps: own enumerable fields, causes' and aggregated errors' fields, bounded, cycles cut", () => {
  const inner = Object.assign(new Error("inner"), { code: "E_INNER" });
  const agg = new AggregateError([inner, new Error("plain"), "not an error"], "all failed");
  assert.deepEqual(errorProps(agg), { errors: [{ code: "E_INNER" }, null, null] });
  const outer = Object.assign(new Error("outer", { cause: inner }), { status: 503 });
  assert.deepEqual(errorProps(outer), { status: 503, cause: { code: "E_INNER" } });
  assert.equal(errorProps(new Error("bare")), undefined, "nothing to add: no attribute");
  const loop = Object.assign(new Error("loop"), { code: "E_LOOP" }) as Error & { cause?: unknown };
  loop.cause = loop; // enumerable and circular
  assert.deepEqual(errorProps(loop), { code: "E_LOOP" });
  let chain: Error = Object.assign(new Error("c0"), { n: 0 });
  for (let i = 1; i < 50; i++) chain = Object.assign(new Error(`c${i}`, { cause: chain }), { n: i });
  let depth = 0;
  for (let p = errorProps(chain) as { cause?: unknown } | undefined; p !== undefined; p = p.cause as typeof p) depth++;
  assert.equal(depth, 8, "at most 8 links");
  const hostile = new Error("hostile");
  Object.defineProperty(hostile, "code", { enumerable: true, get: () => { throw new Error("no"); } });
  assert.deepEqual(errorProps(hostile), { code: "[Unserializable: no]" });
});
