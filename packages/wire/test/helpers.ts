import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import { expect } from "vitest";
import type { WireError } from "../src/index.js";
import { isWireError } from "../src/index.js";

export const expectLeft = <T>(r: Either<WireError, T>): WireError => {
  if (E.isRight(r)) throw new Error(`expected Left, got Right`);
  expect(isWireError(r.left)).toBe(true);
  return r.left;
};

export const expectRight = <T>(r: Either<WireError, T>): T => {
  if (E.isLeft(r)) throw new Error(`expected Right, got ${JSON.stringify(r.left)}`);
  return r.right;
};

/** mulberry32: tiny deterministic PRNG so fuzz failures reproduce. */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

export const bytesOf = (...parts: Array<number | number[] | Uint8Array | string>): Uint8Array => {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else if (typeof p === "string") out.push(...new TextEncoder().encode(p));
    else out.push(...p);
  }
  return Uint8Array.from(out);
};
