import { Decoder, Encoder } from "@msgpack/msgpack";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import { wireError } from "./errors.js";
import { resolveLimits } from "./limits.js";
import { createScanner } from "./scan.js";
import { WireErrorCode } from "./types.js";
import type { Codec, CodecLimits, WireError } from "./types.js";

/**
 * The scanner should have refused anything the library would choke on; this is the backstop.
 * The library's own messages are not passed on: they are not ours to promise value-free.
 */
const fromLibraryError = (e: unknown): WireError =>
  e instanceof Error && e.message.startsWith("Max length exceeded")
    ? wireError(WireErrorCode.TooLarge, "msgpack: a length limit was exceeded")
    : wireError(WireErrorCode.Malformed, "msgpack: cannot decode");

export const createCodec = (overrides?: Partial<CodecLimits>): Codec => {
  const limits = resolveLimits(overrides);
  const scan = createScanner(limits);
  // One instance of each, reused: both keep an internal buffer/stack that is costly to rebuild,
  // and both clone themselves if ever re-entered.
  const encoder = new Encoder({ ignoreUndefined: true });
  const decoder = new Decoder({
    maxStrLength: limits.maxStrLength,
    maxBinLength: limits.maxBinLength,
    maxArrayLength: limits.maxArrayLength,
    maxMapLength: limits.maxMapLength,
    maxExtLength: limits.maxExtLength,
  });

  const decode = (bytes: Uint8Array): Either<WireError, unknown> => {
    if (!(bytes instanceof Uint8Array)) return E.left(wireError(WireErrorCode.Malformed, "msgpack: input is not a byte array"));
    if (bytes.length > limits.maxBytes) {
      return E.left(wireError(WireErrorCode.TooLarge, `msgpack: message longer than ${limits.maxBytes} bytes`));
    }
    const bad = scan(bytes);
    if (bad !== undefined) return E.left(bad);
    try {
      return E.right(decoder.decode(bytes));
    } catch (e) {
      return E.left(fromLibraryError(e));
    }
  };

  return Object.freeze({ limits, encode: (value: unknown): Uint8Array => encoder.encode(value), decode });
};

/** Shared default-limits codec for callers that do not tune limits. */
export const defaultCodec: Codec = createCodec();
