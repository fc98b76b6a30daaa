import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import type { ErrorRecord } from "../src/index.js";
import {
  ErrorRecordSchema,
  ReplySchema,
  WireErrorCode,
  createCodec,
  decodeWith,
  errReply,
  okReply,
  wireError,
  wireErrorToRecord,
} from "../src/index.js";
import { expectLeft, expectRight } from "./helpers.js";

const codec = createCodec();
const roundTrip = (r: unknown) => decodeWith(codec, ReplySchema, codec.encode(r));

describe("Reply", () => {
  it("round trips ok replies with any body", () => {
    for (const body of [{ a: 1 }, [1, 2], "s", 0, null, new Uint8Array([1, 2])]) {
      expect(expectRight(roundTrip(okReply(body)))).toEqual(okReply(body));
    }
  });

  it("an undefined body comes back as undefined", () => {
    const r = expectRight(roundTrip(okReply(undefined)));
    expect(r.ok).toBe(true);
    expect(r.ok && r.body).toBeUndefined();
  });

  it("round trips error replies", () => {
    const e: ErrorRecord = { code: "overloaded", message: "mailbox full", retryable: true, retryAfterMs: 50, details: { queue: 64 } };
    const r = expectRight(roundTrip(errReply(e)));
    expect(r).toEqual({ v: 1, ok: false, error: { ...e, details: expect.objectContaining({ queue: 64 }) } });
    if (!r.ok) expect(Object.getPrototypeOf(r.error.details)).toBe(null);
  });

  it("rejects malformed replies with paths", () => {
    expect(expectLeft(ReplySchema.decode({ v: 2, ok: true })).code).toBe(WireErrorCode.UnsupportedVersion);
    expect(expectLeft(ReplySchema.decode({ ok: true }))).toMatchObject({ code: "invalid", path: "v" });
    expect(expectLeft(ReplySchema.decode({ v: 1, ok: "yes" }))).toMatchObject({ code: "invalid", path: "ok" });
    expect(expectLeft(ReplySchema.decode({ v: 1, ok: false }))).toMatchObject({ code: "invalid", path: "error" });
    expect(expectLeft(ReplySchema.decode({ v: 1, ok: false, error: { code: "Bad Code", message: "", retryable: false } }))).toMatchObject({
      code: "invalid",
      path: "error.code",
    });
    expect(expectLeft(ReplySchema.decode("x")).code).toBe(WireErrorCode.Invalid);
    expect(expectLeft(ReplySchema.decode({ v: 1, ok: false, error: { code: "x", message: "m", retryable: 1 } }), ).path).toBe("error.retryable");
  });
});

describe("ErrorRecordSchema", () => {
  it("enforces code, message length and detail bounds", () => {
    const base = { code: "not_found", message: "m", retryable: false };
    expect(ErrorRecordSchema.decode(base)).toEqual(E.right(base));
    expect(E.isLeft(ErrorRecordSchema.decode({ ...base, code: "a".repeat(65) }))).toBe(true);
    expect(E.isLeft(ErrorRecordSchema.decode({ ...base, code: "9lives" }))).toBe(true);
    expect(E.isRight(ErrorRecordSchema.decode({ ...base, message: "m".repeat(1024) }))).toBe(true);
    expect(E.isLeft(ErrorRecordSchema.decode({ ...base, message: "m".repeat(1025) }))).toBe(true);
    expect(E.isLeft(ErrorRecordSchema.decode({ ...base, retryAfterMs: -1 }))).toBe(true);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]));
    expect(E.isLeft(ErrorRecordSchema.decode({ ...base, details: many }))).toBe(true);
  });
});

describe("wireErrorToRecord", () => {
  it.each([
    [WireErrorCode.Invalid, "bad_request"],
    [WireErrorCode.Malformed, "bad_request"],
    [WireErrorCode.TooDeep, "bad_request"],
    [WireErrorCode.TooLarge, "too_large"],
    [WireErrorCode.UnsupportedVersion, "unsupported_version"],
  ])("%s → %s", (code, expected) => {
    const rec = wireErrorToRecord(wireError(code, "expected string", "body.text"));
    expect(rec).toEqual({ code: expected, message: "expected string", retryable: false, details: { wire: code, path: "body.text" } });
    expect(E.isRight(ErrorRecordSchema.decode(rec))).toBe(true);
  });

  it("omits the path when there is none", () => {
    expect(wireErrorToRecord(wireError(WireErrorCode.Malformed, "msgpack: truncated input")).details).toEqual({ wire: "malformed" });
  });
});
