import { Decoder, decode as rawDecode, encode as rawEncode } from "@msgpack/msgpack";
import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import { WireErrorCode, createCodec, defaultCodec, defaultLimits, isWireError, wireError } from "../src/index.js";
import { bytesOf, expectLeft, expectRight } from "./helpers.js";

const codec = createCodec();

const nestedArrays = (depth: number): Uint8Array => {
  const b = new Uint8Array(depth + 1);
  b.fill(0x91, 0, depth); // fixarray of one element
  b[depth] = 0xc0;
  return b;
};

describe("codec round trips", () => {
  it.each([
    ["nil", null],
    ["true", true],
    ["int", 42],
    ["negative int", -1_000_000],
    ["float", 1.5],
    ["string", "héllo wörld ✓"],
    ["bytes", new Uint8Array([0, 1, 2, 255])],
    ["array", [1, "two", [3], { four: 4 }]],
    ["map", { a: 1, b: { c: [true, null] } }],
  ])("%s", (_name, value) => {
    expect(expectRight(codec.decode(codec.encode(value)))).toEqual(value);
  });

  it("drops undefined properties when encoding", () => {
    const out = expectRight(codec.decode(codec.encode({ a: 1, b: undefined })));
    expect(out).toEqual({ a: 1 });
    expect(Object.hasOwn(out as object, "b")).toBe(false);
  });

  it("reads integer map keys (other encoders write them)", () => {
    expect(expectRight(codec.decode(bytesOf(0x81, 0x01, 0x02)))).toEqual({ 1: 2 });
  });

  it("exposes frozen, validated limits", () => {
    expect(codec.limits).toEqual(defaultLimits);
    expect(defaultLimits.maxBytes).toBe(1024 * 1024 + 64 * 1024);
    expect(defaultLimits.maxExtLength).toBe(0);
    expect(Object.isFrozen(codec.limits)).toBe(true);
    expect(createCodec({ maxDepth: 4 }).limits.maxDepth).toBe(4);
    expect(() => createCodec({ maxDepth: 0 })).toThrow(RangeError);
    expect(() => createCodec({ maxBytes: 1.5 })).toThrow(RangeError);
    expect(() => createCodec({ maxStrLength: -1 })).toThrow(RangeError);
  });

  it("is reusable across many calls (shared encoder/decoder state is reset)", () => {
    for (let i = 0; i < 300; i++) {
      const v = { i, s: "x".repeat(i % 50), b: new Uint8Array(i % 300) };
      expect(expectRight(codec.decode(codec.encode(v)))).toEqual(v);
    }
    expect(defaultCodec.decode(defaultCodec.encode([1]))).toEqual(E.right([1]));
  });
});

describe("nesting depth", () => {
  it("the raw library has no depth limit (why the pre-scan exists)", () => {
    expect(() => rawDecode(nestedArrays(100_000))).not.toThrow();
  });

  it("rejects a 100,000-deep array quickly", () => {
    const started = performance.now();
    const e = expectLeft(codec.decode(nestedArrays(100_000)));
    expect(e.code).toBe(WireErrorCode.TooDeep);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("rejects deep nesting inside a map", () => {
    const inner = nestedArrays(100_000);
    const bytes = bytesOf(0x82, 0xa1, "a", 0x01, 0xa1, "b", inner);
    expect(expectLeft(codec.decode(bytes)).code).toBe(WireErrorCode.TooDeep);
  });

  it("rejects nested maps", () => {
    const depth = 50;
    const parts: number[] = [];
    for (let i = 0; i < depth; i++) parts.push(0x81, 0xa1, 0x6b); // {"k": …
    parts.push(0xc0);
    expect(expectLeft(codec.decode(Uint8Array.from(parts))).code).toBe(WireErrorCode.TooDeep);
  });

  it("accepts exactly maxDepth and rejects maxDepth + 1, counting empty containers", () => {
    expect(E.isRight(codec.decode(nestedArrays(16)))).toBe(true);
    expect(expectLeft(codec.decode(nestedArrays(17))).code).toBe(WireErrorCode.TooDeep);
    const emptyAtDepth = (d: number): Uint8Array => {
      const b = new Uint8Array(d);
      b.fill(0x91, 0, d - 1);
      b[d - 1] = 0x90;
      return b;
    };
    expect(E.isRight(codec.decode(emptyAtDepth(16)))).toBe(true);
    expect(expectLeft(codec.decode(emptyAtDepth(17))).code).toBe(WireErrorCode.TooDeep);
  });

  it("tracks depth correctly across siblings", () => {
    // 20 sibling arrays of depth 2 inside the root: max depth 3, well under the limit.
    const siblings = Array.from({ length: 20 }, () => [[1]]);
    expect(expectRight(codec.decode(codec.encode(siblings)))).toEqual(siblings);
    const c = createCodec({ maxDepth: 3 });
    expect(E.isRight(c.decode(c.encode(siblings)))).toBe(true);
    expect(expectLeft(c.decode(c.encode([siblings]))).code).toBe(WireErrorCode.TooDeep);
  });
});

describe("length headers that lie", () => {
  const FF = [0xff, 0xff, 0xff, 0xff];
  const cases: Array<[string, Uint8Array]> = [
    ["str32", bytesOf(0xdb, FF, "abc")],
    ["bin32", bytesOf(0xc6, FF, 1, 2, 3)],
    ["array32", bytesOf(0xdd, FF, 1, 2, 3)],
    ["map32", bytesOf(0xdf, FF, 0xa1, "a", 1)],
    ["ext32", bytesOf(0xc9, FF, 1, 2, 3)],
  ];

  it.each(cases)("%s claiming 0xFFFFFFFF is refused by the default limits", (_name, bytes) => {
    const started = performance.now();
    const e = expectLeft(codec.decode(bytes));
    expect([WireErrorCode.TooLarge, WireErrorCode.Invalid]).toContain(e.code);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it.each(cases)("%s claiming 0xFFFFFFFF is Malformed even with unlimited lengths", (_name, bytes) => {
    const unlimited = createCodec({
      maxStrLength: 0xffffffff,
      maxBinLength: 0xffffffff,
      maxArrayLength: 0xffffffff,
      maxMapLength: 0xffffffff,
      maxExtLength: 0xffffffff,
    });
    const started = performance.now();
    const e = expectLeft(unlimited.decode(bytes));
    expect(e.code).toBe(WireErrorCode.Malformed);
    expect(e.message).toBe("msgpack: truncated input"); // caught by the pre-scan, not by the library
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("refuses an array16 whose count exceeds the bytes left", () => {
    expect(expectLeft(codec.decode(bytesOf(0xdc, 0x27, 0x10, 1, 2))).code).toBe(WireErrorCode.Malformed);
  });

  it("refuses arrays and maps over the configured lengths", () => {
    const c = createCodec({ maxArrayLength: 3, maxMapLength: 2, maxStrLength: 4, maxBinLength: 2 });
    expect(expectLeft(c.decode(c.encode([1, 2, 3, 4]))).code).toBe(WireErrorCode.TooLarge);
    expect(expectLeft(c.decode(c.encode({ a: 1, b: 2, c: 3 }))).code).toBe(WireErrorCode.TooLarge);
    expect(expectLeft(c.decode(c.encode("12345"))).code).toBe(WireErrorCode.TooLarge);
    expect(expectLeft(c.decode(c.encode(new Uint8Array(3)))).code).toBe(WireErrorCode.TooLarge);
    expect(E.isRight(c.decode(c.encode({ a: [1, 2, 3], b: "1234" })))).toBe(true);
  });

  it("refuses truncated input and headers cut short", () => {
    const full = codec.encode({ hello: "world", n: [1, 2, 3] });
    for (let cut = 0; cut < full.length; cut++) {
      expect(expectLeft(codec.decode(full.subarray(0, cut))).code).toBe(WireErrorCode.Malformed);
    }
    expect(expectLeft(codec.decode(bytesOf(0xdb, 0xff))).code).toBe(WireErrorCode.Malformed);
    expect(expectLeft(codec.decode(bytesOf(0xcb, 0, 0))).code).toBe(WireErrorCode.Malformed);
  });

  it("refuses trailing bytes and the reserved byte 0xc1", () => {
    expect(expectLeft(codec.decode(bytesOf(0x01, 0x02))).code).toBe(WireErrorCode.Malformed);
    expect(expectLeft(codec.decode(bytesOf(0x91, 0xc1))).code).toBe(WireErrorCode.Malformed);
  });

  it("refuses map keys that are neither strings nor integers", () => {
    expect(expectLeft(codec.decode(bytesOf(0x81, 0xc0, 0x01))).code).toBe(WireErrorCode.Malformed);
    expect(expectLeft(codec.decode(bytesOf(0x81, 0x90, 0x01))).code).toBe(WireErrorCode.Malformed);
    expect(expectLeft(codec.decode(bytesOf(0x81, 0xc4, 0x01, 0x61, 0x01))).code).toBe(WireErrorCode.Malformed);
    expect(expectLeft(codec.decode(bytesOf(0x81, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0x01))).code).toBe(WireErrorCode.Malformed);
  });
});

describe("size limits", () => {
  it("rejects input over maxBytes before parsing", () => {
    const big = codec.encode(new Uint8Array(defaultLimits.maxBytes));
    expect(expectLeft(codec.decode(big)).code).toBe(WireErrorCode.TooLarge);
    const c = createCodec({ maxBytes: 10 });
    expect(expectLeft(c.decode(new Uint8Array(11))).code).toBe(WireErrorCode.TooLarge);
    expect(E.isRight(c.decode(c.encode("123456789")))).toBe(true); // fixstr: exactly 10 bytes
    expect(expectLeft(c.decode(c.encode("1234567890"))).code).toBe(WireErrorCode.TooLarge);
  });

  it("accepts a full 1 MiB binary within the default limits", () => {
    const payload = new Uint8Array(1024 * 1024).fill(7);
    const out = expectRight(codec.decode(codec.encode({ data: payload })));
    expect((out as { data: Uint8Array }).data.length).toBe(payload.length);
  });

  it("rejects empty and non-byte input", () => {
    expect(expectLeft(codec.decode(new Uint8Array(0))).code).toBe(WireErrorCode.Malformed);
    expect(expectLeft(codec.decode("nope" as unknown as Uint8Array)).code).toBe(WireErrorCode.Malformed);
    expect(expectLeft(codec.decode(undefined as unknown as Uint8Array)).code).toBe(WireErrorCode.Malformed);
  });
});

describe("extension types", () => {
  it.each([
    ["fixext1", bytesOf(0xd4, 0x01, 0x00)],
    ["fixext16", bytesOf(0xd8, 0x01, new Uint8Array(16))],
    ["ext8 of length 0", bytesOf(0xc7, 0x00, 0x05)],
    ["timestamp (a Date)", rawEncode(new Date(0))],
    ["ext inside a map", bytesOf(0x81, 0xa1, "a", 0xd4, 0x01, 0x00)],
  ])("%s is rejected", (_name, bytes) => {
    expect(expectLeft(codec.decode(bytes)).code).toBe(WireErrorCode.Invalid);
  });

  it("obeys maxExtLength when ext types are allowed", () => {
    const c = createCodec({ maxExtLength: 4 });
    expect(E.isRight(c.decode(bytesOf(0xd6, 0x05, 1, 2, 3, 4)))).toBe(true);
    expect(expectLeft(c.decode(bytesOf(0xd7, 0x05, new Uint8Array(8)))).code).toBe(WireErrorCode.TooLarge);
  });
});

describe("prototype pollution", () => {
  const withKey = (key: string, value: Uint8Array): Uint8Array => bytesOf(0x81, 0xa0 + key.length, key, value);
  const payload = rawEncode({ polluted: "yes" });

  it("the raw library refuses __proto__ but lets constructor through (finding)", () => {
    expect(() => rawDecode(withKey("__proto__", payload))).toThrow(/__proto__/);
    const o = rawDecode(withKey("constructor", rawEncode({ prototype: { polluted: "yes" } }))) as Record<string, unknown>;
    expect(Object.hasOwn(o, "constructor")).toBe(true);
  });

  it.each(["__proto__", "constructor", "prototype"])("refuses a %s map key, at any depth and in any str format", (key) => {
    for (const bytes of [
      withKey(key, payload),
      bytesOf(0x91, withKey(key, payload)),
      bytesOf(0x81, 0xa1, "x", withKey(key, payload)),
      bytesOf(0x81, 0xd9, key.length, key, payload), // str8
      bytesOf(0x81, 0xda, 0x00, key.length, key, payload), // str16
      bytesOf(0x81, 0xdb, 0, 0, 0, key.length, key, payload), // str32
    ]) {
      const e = expectLeft(codec.decode(bytes));
      expect(e.code).toBe(WireErrorCode.Invalid);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
  });

  it("allows those names as values and similar keys", () => {
    const v = { proto: "__proto__", constructors: "constructor", prototypes: 1, __proto: 2 };
    expect(expectRight(codec.decode(codec.encode(v)))).toEqual(v);
  });

  it("a library Decoder given the same bytes would build an own 'constructor' property", () => {
    const o = new Decoder().decode(withKey("constructor", payload)) as Record<string, unknown>;
    expect(typeof o.constructor).toBe("object");
  });
});

describe("errors", () => {
  it("wireError and isWireError", () => {
    const e = wireError(WireErrorCode.Invalid, "expected string", "a.b");
    expect(e).toEqual({ _tag: "WireError", code: "invalid", message: "expected string", path: "a.b" });
    expect(wireError(WireErrorCode.Malformed, "m")).not.toHaveProperty("path");
    expect(isWireError(e)).toBe(true);
    expect(isWireError({ _tag: "WireError", code: "nope", message: "" })).toBe(false);
    expect(isWireError(null)).toBe(false);
    expect(isWireError(new Error("x"))).toBe(false);
  });
});
