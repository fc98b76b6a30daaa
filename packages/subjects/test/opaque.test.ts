import { describe, expect, it } from "vitest";
import { opaqueToken, queueSubject } from "../src/index.js";

const TOKEN_RE = /^[A-Za-z0-9_-]{22}$/;

describe("opaqueToken", () => {
  it("is deterministic per secret", () => {
    expect(opaqueToken("s3cret", "user-1", 3)).toBe(opaqueToken("s3cret", "user-1", 3));
    expect(opaqueToken(new Uint8Array([1, 2, 3]), "user-1")).toBe(opaqueToken(new Uint8Array([1, 2, 3]), "user-1"));
  });

  it("differs across secrets", () => {
    expect(opaqueToken("secret-a", "user-1", 3)).not.toBe(opaqueToken("secret-b", "user-1", 3));
  });

  it("differs across part splits and types", () => {
    expect(opaqueToken("k", "ab", "c")).not.toBe(opaqueToken("k", "a", "bc"));
    expect(opaqueToken("k", "abc")).not.toBe(opaqueToken("k", "ab", "c"));
    expect(opaqueToken("k", "a", "")).not.toBe(opaqueToken("k", "a"));
    expect(opaqueToken("k", 1)).not.toBe(opaqueToken("k", "1"));
    expect(opaqueToken("k", "user", 1)).not.toBe(opaqueToken("k", "user", 2));
  });

  it("is a valid subject token and KV key", () => {
    for (let i = 0; i < 200; i++) {
      const t = opaqueToken("secret", `user-${i}`, i % 127);
      expect(t).toMatch(TOKEN_RE);
      expect(queueSubject(t)).toBe(`ilk.q.${t}`);
    }
  });

  it("does not contain the raw parts", () => {
    expect(opaqueToken("secret", "alice")).not.toContain("alice");
  });

  it("rejects programmer errors", () => {
    expect(() => opaqueToken("", "x")).toThrow(TypeError);
    expect(() => opaqueToken("k", Number.NaN)).toThrow(TypeError);
  });
});
