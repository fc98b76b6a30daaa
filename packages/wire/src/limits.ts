import type { CodecLimits } from "./types.js";

const KIB = 1024;
const MIB = 1024 * KIB;

/** NATS' default max_payload is 1 MiB; the slack lets a full 1 MiB bin plus framing through. */
export const defaultLimits: CodecLimits = Object.freeze({
  maxBytes: MIB + 64 * KIB,
  maxDepth: 16,
  maxStrLength: 256 * KIB,
  maxBinLength: MIB,
  maxArrayLength: 10_000,
  maxMapLength: 1_000,
  maxExtLength: 0,
});

/** The scanner preallocates one stack slot per level, so depth needs a sane ceiling. */
const MAX_DEPTH_CEILING = 1_000;
/** msgpack length fields are u32. */
const U32_MAX = 0xffff_ffff;

export const resolveLimits = (overrides: Partial<CodecLimits> | undefined): CodecLimits => {
  const l: CodecLimits = { ...defaultLimits, ...overrides };
  const check = (name: keyof CodecLimits, min: number, max: number): void => {
    const v = l[name];
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      throw new RangeError(`createCodec: ${name} must be an integer in ${min}..${max}`);
    }
  };
  check("maxBytes", 1, Number.MAX_SAFE_INTEGER);
  check("maxDepth", 1, MAX_DEPTH_CEILING);
  check("maxStrLength", 0, U32_MAX);
  check("maxBinLength", 0, U32_MAX);
  check("maxArrayLength", 0, U32_MAX);
  check("maxMapLength", 0, U32_MAX);
  check("maxExtLength", 0, U32_MAX);
  return Object.freeze(l);
};
