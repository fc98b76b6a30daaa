import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import { isSubjectError, parseDeviceId, parseOp, parseProviderId, parseUserId } from "../src/index.js";

const leftMessage = (r: E.Either<{ message: string; code: string }, unknown>): string => {
  if (E.isRight(r)) throw new Error("expected Left");
  expect(isSubjectError(r.left)).toBe(true);
  expect(r.left.code).toBe("invalid_token");
  return r.left.message;
};

describe("parseProviderId", () => {
  it.each(["ab", "acme", "acme-chat", "x9", "a".repeat(32), "0-0"])("accepts %s", (s) => {
    expect(parseProviderId(s)).toEqual(E.right(s));
  });

  it.each([
    ["acme.corp", "contains '.'"],
    ["acme*", "contains '*'"],
    ["acme>", "contains '>'"],
    ["ac me", "whitespace"],
    ["acme\tx", "whitespace"],
    ["", "empty"],
    ["q".repeat(33), "longer than 32"],
    ["z", "shorter than 2"],
    ["AcmeCorp", "uppercase"],
    ["acmé", "non-ASCII"],
    ["acme_corp", "disallowed character"],
  ])("rejects %j (%s) without echoing it", (value, why) => {
    const msg = leftMessage(parseProviderId(value));
    expect(msg).toMatch(/^provider id: /);
    expect(msg).toContain(why);
    if (value.length > 1) expect(msg).not.toContain(value);
  });

  it.each([undefined, null, 42, {}, ["ab"]])("rejects non-string %j", (v) => {
    expect(leftMessage(parseProviderId(v))).toBe("provider id: not a string");
  });
});

describe("parseUserId", () => {
  it.each(["u", "Alice_01", "x-Y_z", "A".repeat(64)])("accepts %s", (s) => {
    expect(parseUserId(s)).toEqual(E.right(s));
  });

  it.each([
    ["secret.user", "contains '.'"],
    ["secretuser*", "contains '*'"],
    ["secretuser>", "contains '>'"],
    ["secret user", "whitespace"],
    ["secret\tuser", "whitespace"],
    ["", "empty"],
    ["S".repeat(65), "longer than 64"],
    ["sécretuser", "non-ASCII"],
    ["+4915112345678", "disallowed character"],
  ])("rejects %j (%s) without echoing it", (value, why) => {
    const msg = leftMessage(parseUserId(value));
    expect(msg).toMatch(/^user id: /);
    expect(msg).toContain(why);
    if (value.length > 1) expect(msg).not.toContain(value);
  });
});

describe("parseOp", () => {
  it.each(["claim", "get-bundle", "a", "x".repeat(32)])("accepts %s", (s) => {
    expect(parseOp(s)).toEqual(E.right(s));
  });
  it.each(["", "Claim", "1claim", "-claim", "cl.aim", "cl*", "cl>", "cl aim", "x".repeat(33), "clâim", "cl_aim"])(
    "rejects %j",
    (s) => {
      const msg = leftMessage(parseOp(s));
      expect(msg).toMatch(/^op: /);
    },
  );
});

describe("parseDeviceId", () => {
  it.each([1, 2, 64, 127])("accepts %d", (n) => {
    expect(parseDeviceId(n)).toEqual(E.right(n));
  });
  it.each([0, 128, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "3", null, undefined, true])("rejects %j", (n) => {
    expect(leftMessage(parseDeviceId(n))).toMatch(/^device id: /);
  });
});
