import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import type { Content } from "../src/index.js";
import { ContentSchema, ReplySchema, createCodec, decodeContent, decodeWith, encodeContent, errReply, okReply } from "../src/index.js";
import { prng } from "./helpers.js";

const codec = createCodec();
/** The message the codec uses when the library itself throws after the scan passed. */
const BACKSTOP = "msgpack: cannot decode";

const isEither = (r: unknown): boolean => E.isLeft(r as E.Either<unknown, unknown>) || E.isRight(r as E.Either<unknown, unknown>);

const decodeAll = (bytes: Uint8Array): void => {
  const raw = codec.decode(bytes);
  expect(isEither(raw)).toBe(true);
  // The pre-scan is meant to catch everything the library would throw on.
  if (E.isLeft(raw)) expect(raw.left.message).not.toBe(BACKSTOP);
  expect(isEither(decodeWith(codec, ContentSchema, bytes))).toBe(true);
  expect(isEither(decodeWith(codec, ReplySchema, bytes))).toBe(true);
  expect(isEither(decodeContent(bytes))).toBe(true);
};

/** Header-ish bytes are over-represented so that random input reaches containers and lengths. */
const INTERESTING = [0x80, 0x81, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa5, 0xbf, 0xc0, 0xc1, 0xc2, 0xc4, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcf, 0xd3, 0xd4, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff, 0x00];

describe("random input never throws", () => {
  it("5,000 random buffers", () => {
    const rnd = prng(0xc0ffee);
    for (let i = 0; i < 5000; i++) {
      const len = Math.floor(rnd() * 96);
      const b = new Uint8Array(len);
      for (let j = 0; j < len; j++) {
        b[j] = rnd() < 0.4 ? INTERESTING[Math.floor(rnd() * INTERESTING.length)]! : Math.floor(rnd() * 256);
      }
      decodeAll(b);
    }
  });

  it("3,000 mutations of valid messages", () => {
    const rnd = prng(42);
    const content: Content = {
      v: 1,
      id: "m1",
      sentAt: 1_700_000_000_000,
      body: {
        t: "attachment",
        kind: "image",
        media: { id: "a", cap: new Uint8Array(16), key: new Uint8Array(64), digest: new Uint8Array(32), size: 10, mime: "image/png" },
      },
    };
    const seeds = [
      encodeContent(content),
      codec.encode(content),
      codec.encode(okReply({ list: [1, 2, { x: "y" }] })),
      codec.encode(errReply({ code: "overloaded", message: "m", retryable: true, details: { a: [1] } })),
    ];
    let decodedSomething = 0;
    for (let i = 0; i < 3000; i++) {
      const b = seeds[i % seeds.length]!.slice();
      const flips = 1 + Math.floor(rnd() * 4);
      for (let f = 0; f < flips; f++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      const cut = rnd() < 0.2 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
      decodeAll(cut);
      if (E.isRight(codec.decode(cut))) decodedSomething++;
    }
    // The mutations must not all be trivially rejected, or this test proves little.
    expect(decodedSomething).toBeGreaterThan(100);
  });
});
