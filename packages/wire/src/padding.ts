import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import { wireError } from "./errors.js";
import { WireErrorCode } from "./types.js";
import type { WireError } from "./types.js";

/** Signal pads message plaintext to multiples of 160 bytes; ciphertext length then says little. */
export const PADDING_BLOCK = 160;
const PAD_MARK = 0x80;

export const pad = (body: Uint8Array): Uint8Array => {
  const len = Math.ceil((body.length + 1) / PADDING_BLOCK) * PADDING_BLOCK;
  const out = new Uint8Array(len);
  out.set(body);
  out[body.length] = PAD_MARK;
  return out;
};

/** Returns a view of the unpadded body; nothing is copied. */
export const unpad = (padded: Uint8Array): Either<WireError, Uint8Array> => {
  if (!(padded instanceof Uint8Array)) return E.left(wireError(WireErrorCode.Malformed, "padding: input is not a byte array"));
  let i = padded.length - 1;
  while (i >= 0 && padded[i] === 0) i--;
  if (i < 0 || padded[i] !== PAD_MARK) return E.left(wireError(WireErrorCode.Malformed, "padding: missing 0x80 terminator"));
  return E.right(padded.subarray(0, i));
};
