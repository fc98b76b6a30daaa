import * as E from "fp-ts/lib/Either.js";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { Infer, Schema } from "../src/index.js";
import { WireErrorCode, createCodec, decodeWith, record, s, wireError } from "../src/index.js";
import { expectLeft, expectRight } from "./helpers.js";

describe("primitives", () => {
  it("str", () => {
    const x = s.str({ min: 2, max: 4, pattern: /^[a-z]+$/g });
    expect(x.decode("abc")).toEqual(E.right("abc"));
    // A /g pattern must not make every second call fail.
    expect(x.decode("abc")).toEqual(E.right("abc"));
    expect(x.decode("abcd")).toEqual(E.right("abcd"));
    expect(expectLeft(x.decode(1)).message).toBe("expected string");
    expect(expectLeft(x.decode("a")).message).toMatch(/shorter than 2/);
    expect(expectLeft(x.decode("abcde")).message).toMatch(/longer than 4/);
    expect(expectLeft(x.decode("ab1")).message).toMatch(/does not match/);
    expect(expectLeft(x.decode("a")).code).toBe(WireErrorCode.Invalid);
  });

  it("bytes", () => {
    const x = s.bytes({ min: 2, max: 3 });
    expect(x.decode(new Uint8Array(2))).toEqual(E.right(new Uint8Array(2)));
    expect(E.isRight(x.decode(Buffer.alloc(3)))).toBe(true);
    expect(E.isLeft(x.decode(new Uint8Array(1)))).toBe(true);
    expect(E.isLeft(x.decode(new Uint8Array(4)))).toBe(true);
    expect(E.isLeft(x.decode([1, 2]))).toBe(true);
    expect(E.isLeft(x.decode(new Uint16Array(2)))).toBe(true);
    expect(E.isLeft(x.decode("ab"))).toBe(true);
  });

  it("int", () => {
    const x = s.int({ min: -1, max: 10 });
    expect(x.decode(10)).toEqual(E.right(10));
    expect(x.decode(-1)).toEqual(E.right(-1));
    for (const bad of [11, -2, 1.5, Number.NaN, Infinity, 2 ** 53, "1", null]) expect(E.isLeft(x.decode(bad))).toBe(true);
    expect(E.isLeft(s.int().decode(2 ** 53))).toBe(true);
    expect(s.int().decode(2 ** 53 - 1)).toEqual(E.right(2 ** 53 - 1));
  });

  it("num", () => {
    const x = s.num({ min: 0, max: 1 });
    expect(x.decode(0.5)).toEqual(E.right(0.5));
    for (const bad of [1.01, -0.1, Number.NaN, Infinity, "0.5"]) expect(E.isLeft(x.decode(bad))).toBe(true);
  });

  it("bool, literal, oneOf", () => {
    expect(s.bool().decode(false)).toEqual(E.right(false));
    expect(E.isLeft(s.bool().decode(0))).toBe(true);
    expect(s.literal("a").decode("a")).toEqual(E.right("a"));
    expect(s.literal(3).decode(3)).toEqual(E.right(3));
    expect(expectLeft(s.literal(3).decode(4)).message).toBe("expected 3");
    const o = s.oneOf(["x", "y"] as const);
    expect(o.decode("y")).toEqual(E.right("y"));
    expect(expectLeft(o.decode("z")).message).toBe("expected one of x|y");
    expect(E.isLeft(o.decode("toString"))).toBe(true);
    expectTypeOf<Infer<typeof o>>().toEqualTypeOf<"x" | "y">();
  });

  it("rejects nonsense options as programmer errors", () => {
    expect(() => s.str({ min: 5, max: 1 })).toThrow(RangeError);
    expect(() => s.oneOf([])).toThrow(RangeError);
  });
});

describe("containers and paths", () => {
  const Inner = s.object({ n: s.int(), tags: s.array(s.str({ max: 3 }), { max: 3 }) });
  const Outer = s.object({ name: s.str(), items: s.array(Inner), note: s.optional(s.str()), parent: s.nullable(s.str()) });

  it("decodes into a fresh object, dropping unknown keys", () => {
    const input = { name: "a", items: [{ n: 1, tags: ["x"], extra: 1 }], parent: null, junk: true };
    const out = expectRight(Outer.decode(input));
    expect(out).toEqual({ name: "a", items: [{ n: 1, tags: ["x"] }], parent: null });
    expect(out).not.toBe(input);
    expect(out.items[0]).not.toBe(input.items[0]);
    expect(Object.hasOwn(out, "note")).toBe(false);
    expect(Object.hasOwn(out, "junk")).toBe(false);
  });

  it("reports nested paths", () => {
    const bad = { name: "a", items: [{ n: 1, tags: [] }, { n: 2, tags: ["ok", "toolong"] }], parent: null };
    const e = expectLeft(Outer.decode(bad));
    expect(e).toMatchObject({ code: "invalid", path: "items[1].tags[1]" });
    expect(expectLeft(Outer.decode(bad, "req")).path).toBe("req.items[1].tags[1]");
    expect(expectLeft(Outer.decode({ items: [] })).path).toBe("name");
    expect(expectLeft(Outer.decode({ items: [] })).message).toBe("missing required field");
    expect(expectLeft(Outer.decode({ name: "a", items: [] })).path).toBe("parent");
    expect(expectLeft(s.array(s.int()).decode([1, "x"])).path).toBe("[1]");
    expect(expectLeft(Outer.decode([])).message).toBe("expected object");
    expect(expectLeft(Outer.decode(new Uint8Array(2))).message).toBe("expected object");
  });

  it("array bounds", () => {
    const a = s.array(s.int(), { min: 1, max: 2 });
    expect(E.isLeft(a.decode([]))).toBe(true);
    expect(E.isLeft(a.decode([1, 2, 3]))).toBe(true);
    expect(a.decode([1, 2])).toEqual(E.right([1, 2]));
  });

  it("optional: missing or nil means absent, present values are validated", () => {
    const o = s.object({ a: s.optional(s.int()) });
    expect(expectRight(o.decode({}))).toEqual({});
    const fromNil = expectRight(o.decode({ a: null }));
    expect(Object.hasOwn(fromNil, "a")).toBe(false);
    expect(expectRight(o.decode({ a: 1 }))).toEqual({ a: 1 });
    expect(expectLeft(o.decode({ a: "1" })).path).toBe("a");
  });

  it("optional(nullable) keeps an explicit nil", () => {
    const o = s.object({ a: s.optional(s.nullable(s.int())) });
    expect(expectRight(o.decode({ a: null }))).toEqual({ a: null });
    expect(Object.hasOwn(expectRight(o.decode({})), "a")).toBe(false);
  });

  it("reads own properties only", () => {
    const o = s.object({ toString: s.optional(s.str()), constructorish: s.optional(s.str()) });
    expect(expectRight(o.decode({}))).toEqual({});
    const proto = { name: "inherited" };
    const child = Object.create(proto) as object;
    expect(E.isLeft(s.object({ name: s.str() }).decode(child))).toBe(true);
  });

  it("accepts a Map with string keys as an object", () => {
    expect(expectRight(Inner.decode(new Map<string, unknown>([["n", 1], ["tags", []]])))).toEqual({ n: 1, tags: [] });
  });

  it("refuses prototype-reaching field names in shapes", () => {
    expect(() => s.object({ ["constructor"]: s.str() })).toThrow(TypeError);
    expect(() => s.object({ prototype: s.str() })).toThrow(TypeError);
  });
});

describe("map", () => {
  const m = s.map(s.int(), { max: 3, key: s.str({ pattern: /^[a-z]+$/ }) });

  it("returns a null-prototype record", () => {
    const out = expectRight(m.decode({ a: 1, b: 2 }));
    expect(Object.getPrototypeOf(out)).toBe(null);
    expect({ ...out }).toEqual({ a: 1, b: 2 });
    expect(expectRight(m.decode(new Map([["c", 3]])))["c"]).toBe(3);
  });

  it("validates keys, values and size without naming keys in paths", () => {
    expect(expectLeft(m.decode({ a: 1, b: "x" })).path).toBe("[#1]");
    const badKey = expectLeft(m.decode({ a: 1, SECRETKEY: 2 }));
    expect(badKey.path).toBe("[#1]");
    expect(JSON.stringify(badKey)).not.toContain("SECRETKEY");
    expect(E.isLeft(m.decode({ a: 1, b: 2, c: 3, d: 4 }))).toBe(true);
    expect(E.isLeft(m.decode(new Map<unknown, unknown>([[1, 1]])))).toBe(true);
    expect(E.isLeft(m.decode([1]))).toBe(true);
  });

  it("refuses prototype-reaching keys", () => {
    const any = s.map(s.unknown());
    const own = JSON.parse('{"__proto__": {"polluted": 1}}') as object;
    expect(expectLeft(any.decode(own)).code).toBe(WireErrorCode.Invalid);
    expect(E.isLeft(any.decode({ constructor: 1 }))).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("union", () => {
  const U = s.union("t", {
    a: s.object({ x: s.int() }),
    b: s.object({ t: s.literal("b"), y: s.optional(s.str()) }),
  });

  it("dispatches on the tag and keeps the tag in the output", () => {
    expect(expectRight(U.decode({ t: "a", x: 1 }))).toEqual({ t: "a", x: 1 });
    expect(expectRight(U.decode({ t: "b" }))).toEqual({ t: "b" });
    expectTypeOf<Infer<typeof U>>().toEqualTypeOf<{ t: "a"; x: number } | { t: "b"; y?: string | undefined }>();
  });

  it("refuses unknown, missing and inherited tags at the tag path", () => {
    for (const bad of [{ t: "c" }, {}, { t: 1 }, { t: "constructor" }, { t: "toString" }]) {
      const e = expectLeft(U.decode(bad));
      expect(e).toMatchObject({ code: "invalid", path: "t" });
    }
    expect(expectLeft(U.decode({ t: "a", x: "1" }, "body")).path).toBe("body.x");
  });

  it("needs object variants", () => {
    expect(() => s.union("t", { a: s.int() })).toThrow(TypeError);
  });
});

describe("custom", () => {
  const Even = s.custom<number>("even", (u, path) =>
    typeof u === "number" && u % 2 === 0 ? E.right(u) : E.left(wireError(WireErrorCode.Invalid, "expected even number", path)),
  );

  it("works standalone and nested, with full paths", () => {
    expect(Even.decode(2)).toEqual(E.right(2));
    expect(expectLeft(Even.decode(3, "n")).path).toBe("n");
    const o = s.object({ list: s.array(Even) });
    expect(expectLeft(o.decode({ list: [2, 3] }, "root")).path).toBe("root.list[1]");
  });

  it("hand-written Schema objects compose too", () => {
    const hand: Schema<string> = {
      name: "hand",
      decode: (u, path) => (u === "ok" ? E.right("ok") : E.left(wireError(WireErrorCode.Invalid, "expected ok", path))),
    };
    const o = s.object({ inner: s.object({ h: hand }) });
    expect(expectRight(o.decode({ inner: { h: "ok" } }))).toEqual({ inner: { h: "ok" } });
    expect(expectLeft(o.decode({ inner: { h: "no" } })).path).toBe("inner.h");
  });
});

describe("record", () => {
  const Ping = record("Ping", 2, { seq: s.int({ min: 0 }), note: s.optional(s.str()) });
  const codec = createCodec();

  it("round trips through the codec", () => {
    const v = { v: 2 as const, seq: 7 };
    expect(decodeWith(codec, Ping, codec.encode(v))).toEqual(E.right(v));
    expect(Ping.name).toBe("Ping");
  });

  it("reports another version as unsupported before looking at other fields", () => {
    expect(expectLeft(Ping.decode({ v: 3, seq: "bad" }))).toMatchObject({ code: "unsupported_version", path: "v" });
    expect(expectLeft(Ping.decode({ v: 1 })).code).toBe(WireErrorCode.UnsupportedVersion);
    expect(expectLeft(Ping.decode({ seq: 1 }))).toMatchObject({ code: "invalid", path: "v" });
    expect(expectLeft(Ping.decode({ v: "2", seq: 1 }))).toMatchObject({ code: "invalid", path: "v" });
  });

  it("reports wrong field types as Invalid with a path", () => {
    expect(expectLeft(Ping.decode({ v: 2, seq: -1 }))).toMatchObject({ code: "invalid", path: "seq" });
    expect(expectLeft(Ping.decode({ v: 2, seq: 1, note: 5 }))).toMatchObject({ code: "invalid", path: "note" });
  });

  it("decodeWith passes codec errors through", () => {
    expect(expectLeft(decodeWith(codec, Ping, new Uint8Array([0xc1]))).code).toBe(WireErrorCode.Malformed);
  });

  it("refuses a shape that defines v", () => {
    expect(() => record("X", 1, { v: s.int() })).toThrow(TypeError);
  });

  it("infers required and optional keys", () => {
    type Ping = Infer<typeof Ping>;
    expectTypeOf<Ping>().toEqualTypeOf<{ v: 2; seq: number; note?: string | undefined }>();
    const Obj = s.object({ a: s.str(), b: s.optional(s.int()), c: s.nullable(s.bool()), d: s.unknown() });
    expectTypeOf<Infer<typeof Obj>>().toEqualTypeOf<{ a: string; c: boolean | null; b?: number | undefined; d?: unknown }>();
  });
});
