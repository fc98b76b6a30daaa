import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import type { Content, ContentBody } from "../src/index.js";
import { ContentSchema, PADDING_BLOCK, WireErrorCode, createCodec, decodeContent, defaultCodec, encodeContent } from "../src/index.js";
import { expectLeft, expectRight, prng } from "./helpers.js";

const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill);

const media = {
  id: "att_01HZX",
  cap: bytes(32, 2),
  key: bytes(64, 3),
  digest: bytes(32, 4),
  size: 123_456,
  mime: "audio/ogg; codecs=opus",
  durationMs: 4200,
  waveform: bytes(100, 5),
};

const bodies: ContentBody[] = [
  { t: "text", text: "hello" },
  { t: "text", text: "re: hi", replyTo: "m0" },
  { t: "attachment", kind: "voice", media },
  {
    t: "attachment",
    kind: "image",
    media: { ...media, mime: "image/jpeg", fileName: "cat.jpg", width: 640, height: 480, thumbnail: bytes(2000, 9) },
    caption: "a cat",
    replyTo: "m1",
  },
  { t: "reaction", target: "m1", emoji: "👍" },
  { t: "reaction", target: "m1", emoji: "👍", remove: true },
  { t: "edit", target: "m1", text: "hello again" },
  { t: "delete", target: "m1" },
  { t: "receipt", status: "read", targets: ["m1", "m2"] },
];

const content = (body: ContentBody, id = "msg_1"): Content => ({ v: 1, id, sentAt: 1_700_000_000_000, body });

describe("content round trips", () => {
  it.each(bodies.map((b) => [b.t, b] as const))("%s", (_t, body) => {
    const c = content(body);
    const padded = encodeContent(c);
    expect(padded.length % PADDING_BLOCK).toBe(0);
    expect(expectRight(decodeContent(padded))).toEqual(c);
  });

  it("pads to the next multiple of 160 with 0x80 then zeros", () => {
    const rnd = prng(7);
    for (let i = 0; i < 100; i++) {
      const text = "x".repeat(Math.floor(rnd() * 1000));
      const raw = defaultCodec.encode(content({ t: "text", text }));
      const padded = encodeContent(content({ t: "text", text }));
      expect(padded.length % PADDING_BLOCK).toBe(0);
      expect(padded.length).toBe(Math.ceil((raw.length + 1) / PADDING_BLOCK) * PADDING_BLOCK);
      expect(padded.subarray(0, raw.length)).toEqual(raw);
      expect(padded[raw.length]).toBe(0x80);
      expect(padded.subarray(raw.length + 1).every((b) => b === 0)).toBe(true);
    }
  });

  it("a body of exactly 159 bytes pads to 160, 160 bytes to 320", () => {
    const sizeOf = (text: string) => defaultCodec.encode(content({ t: "text", text })).length;
    let text = "";
    while (sizeOf(text) < 159) text += "x";
    expect(sizeOf(text)).toBe(159);
    expect(encodeContent(content({ t: "text", text })).length).toBe(160);
    expect(encodeContent(content({ t: "text", text: text + "x" })).length).toBe(320);
  });

  it("accepts padding that is not a multiple of 160 (other senders)", () => {
    const raw = defaultCodec.encode(content({ t: "delete", target: "m1" }));
    const odd = new Uint8Array(raw.length + 3);
    odd.set(raw);
    odd[raw.length] = 0x80;
    expect(E.isRight(decodeContent(odd))).toBe(true);
  });

  it("works with a custom codec", () => {
    const c = createCodec({ maxDepth: 8 });
    const x = content({ t: "text", text: "hi" });
    expect(expectRight(decodeContent(encodeContent(x, c), c))).toEqual(x);
  });
});

describe("content rejects", () => {
  it("bad padding", () => {
    const padded = encodeContent(content({ t: "text", text: "hello" }));
    expect(expectLeft(decodeContent(new Uint8Array(160))).code).toBe(WireErrorCode.Malformed);
    expect(expectLeft(decodeContent(new Uint8Array(0))).code).toBe(WireErrorCode.Malformed);
    const noMark = padded.slice();
    noMark[noMark.lastIndexOf(0x80)] = 0x81;
    expect(expectLeft(decodeContent(noMark)).code).toBe(WireErrorCode.Malformed);
    // The marker must be there: unpadded msgpack ends in an arbitrary byte.
    expect(E.isLeft(decodeContent(defaultCodec.encode(content({ t: "text", text: "hello" }))))).toBe(true);
  });

  it("oversized input before walking the padding", () => {
    expect(expectLeft(decodeContent(new Uint8Array(defaultCodec.limits.maxBytes + 1000))).code).toBe(WireErrorCode.TooLarge);
  });

  it("an unknown version", () => {
    const padded = encodeContent({ ...content({ t: "text", text: "x" }), v: 2 } as unknown as Content);
    expect(expectLeft(decodeContent(padded))).toMatchObject({ code: "unsupported_version", path: "v" });
  });

  it.each([
    ["unknown body tag", { t: "poll", q: "?" }, "body.t"],
    ["text too long", { t: "text", text: "x".repeat(64 * 1024 + 1) }, "body.text"],
    ["bad replyTo", { t: "text", text: "x", replyTo: "a b" }, "body.replyTo"],
    ["short key", { t: "attachment", kind: "file", media: { ...media, key: bytes(32) } }, "body.media.key"],
    ["short cap", { t: "attachment", kind: "file", media: { ...media, cap: bytes(15) } }, "body.media.cap"],
    ["long digest", { t: "attachment", kind: "file", media: { ...media, digest: bytes(33) } }, "body.media.digest"],
    ["big thumbnail", { t: "attachment", kind: "file", media: { ...media, thumbnail: bytes(64 * 1024 + 1) } }, "body.media.thumbnail"],
    ["big waveform", { t: "attachment", kind: "voice", media: { ...media, waveform: bytes(1025) } }, "body.media.waveform"],
    ["bad kind", { t: "attachment", kind: "sticker", media }, "body.kind"],
    ["long emoji", { t: "reaction", target: "m1", emoji: "x".repeat(65) }, "body.emoji"],
    ["too many receipts", { t: "receipt", status: "read", targets: Array.from({ length: 101 }, (_, i) => `m${i}`) }, "body.targets"],
    ["no receipts", { t: "receipt", status: "read", targets: [] }, "body.targets"],
    ["bad status", { t: "receipt", status: "seen", targets: ["m1"] }, "body.status"],
    ["negative size", { t: "attachment", kind: "file", media: { ...media, size: -1 } }, "body.media.size"],
  ])("%s", (_name, body, path) => {
    const padded = encodeContent(content(body as ContentBody));
    expect(expectLeft(decodeContent(padded))).toMatchObject({ code: "invalid", path });
  });

  it("a bad message id or timestamp", () => {
    expect(expectLeft(ContentSchema.decode({ ...content({ t: "delete", target: "m" }), id: "" })).path).toBe("id");
    expect(expectLeft(ContentSchema.decode({ ...content({ t: "delete", target: "m" }), id: "x".repeat(65) })).path).toBe("id");
    expect(expectLeft(ContentSchema.decode({ ...content({ t: "delete", target: "m" }), sentAt: 1.5 })).path).toBe("sentAt");
  });
});
