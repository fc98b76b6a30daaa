import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import { ContentSchema, ErrorRecordSchema, ReplySchema, createCodec, decodeContent, encodeContent, s, wireErrorToRecord } from "../src/index.js";
import type { Content } from "../src/index.js";
import { expectLeft } from "./helpers.js";

const SECRET = "SECRET-plaintext-4f9a2c";
const SECRET_BYTES = new TextEncoder().encode(SECRET);

const base = { v: 1, id: "m1", sentAt: 1, body: { t: "text", text: "ok" } };

const leaksNothing = (r: E.Either<unknown, unknown>): void => {
  const e = expectLeft(r as never);
  expect(JSON.stringify(e)).not.toContain(SECRET);
  expect(JSON.stringify(wireErrorToRecord(e))).not.toContain(SECRET);
};

describe("error messages never carry field values", () => {
  it.each([
    ["string where an int belongs", { ...base, sentAt: SECRET }],
    ["string as the body tag", { ...base, body: { t: SECRET } }],
    ["string as the version", { ...base, v: SECRET }],
    ["id breaking its pattern", { ...base, id: `${SECRET} !` }],
    ["text where bytes belong", { ...base, body: { t: "attachment", kind: "file", media: { id: "a", cap: SECRET } } }],
    ["string as a receipt status", { ...base, body: { t: "receipt", status: SECRET, targets: ["m"] } }],
    ["bytes where text belongs", { ...base, body: { t: "text", text: SECRET_BYTES } }],
    ["over-long emoji", { ...base, body: { t: "reaction", target: "m", emoji: SECRET.repeat(10) } }],
    ["secret in a bad target", { ...base, body: { t: "edit", target: SECRET + ".", text: "x" } }],
  ])("%s", (_name, value) => {
    leaksNothing(ContentSchema.decode(value));
    leaksNothing(decodeContent(encodeContent(value as unknown as Content)));
  });

  it("in replies, error records and map keys", () => {
    leaksNothing(ReplySchema.decode({ v: 1, ok: false, error: { code: SECRET, message: "m", retryable: false } }));
    leaksNothing(ErrorRecordSchema.decode({ code: "x", message: "m", retryable: false, details: { [SECRET.repeat(4)]: 1 } }));
    leaksNothing(s.map(s.int()).decode({ [SECRET]: "nope" }));
    leaksNothing(s.literal("a").decode(SECRET));
    leaksNothing(s.oneOf(["a", "b"]).decode(SECRET));
  });

  it("in codec errors", () => {
    const codec = createCodec({ maxStrLength: 8 });
    leaksNothing(codec.decode(codec.encode({ k: SECRET })));
  });
});
