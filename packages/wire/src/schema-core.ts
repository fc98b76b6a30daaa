import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import { wireError } from "./errors.js";
import type { Schema, WireError, WireErrorCode } from "./types.js";

/**
 * Internal failure value. Schemas run in a fast internal mode that returns either the decoded
 * value or a Failure, so a successful decode allocates no Either per field and builds no path
 * strings; the path is collected only on failure, as each enclosing schema adds its segment
 * while the failure travels back up.
 */
export class Failure {
  /** Innermost first; each already formatted (".field", "[3]", "[#2]"). */
  readonly segments: string[] = [];
  constructor(
    readonly code: WireErrorCode,
    readonly message: string,
  ) {}
  at(segment: string): this {
    this.segments.push(segment);
    return this;
  }
}

export type Run<T> = (u: unknown) => T | Failure;

export interface Meta {
  /** Missing object fields are passed through (s.optional, s.unknown) instead of failing. */
  readonly acceptsUndefined: boolean;
  /** Used by s.optional: null stays null only if the inner schema wants it. */
  readonly acceptsNull: boolean;
  /** Set on s.object / record schemas, so s.union can add the tag field. */
  readonly shape?: Readonly<Record<string, Schema<unknown>>>;
}

export const RUN: unique symbol = Symbol("interlink.wire.run");
export const META: unique symbol = Symbol("interlink.wire.meta");

export interface Internal<T> extends Schema<T> {
  readonly [RUN]: Run<T>;
  readonly [META]: Meta;
}

const PLAIN: Meta = Object.freeze({ acceptsUndefined: false, acceptsNull: false });

const joinPath = (prefix: string, segments: readonly string[]): string => {
  let p = prefix;
  for (let i = segments.length - 1; i >= 0; i--) p += segments[i];
  return p.startsWith(".") ? p.slice(1) : p;
};

export const toWireError = (f: Failure, prefix: string): WireError => wireError(f.code, f.message, joinPath(prefix, f.segments));

/** Paths of foreign errors are relative to where the foreign schema was run. */
export const fromWireError = (e: WireError): Failure => {
  const f = new Failure(e.code, e.message);
  if (e.path !== undefined && e.path !== "") f.at(e.path.startsWith("[") ? e.path : `.${e.path}`);
  return f;
};

export const make = <T>(name: string, run: Run<T>, meta: Meta = PLAIN): Internal<T> => ({
  name,
  [RUN]: run,
  [META]: meta,
  decode(u: unknown, path = ""): Either<WireError, T> {
    const r = run(u);
    return r instanceof Failure ? E.left(toWireError(r, path)) : E.right(r);
  },
});

const isInternal = <T>(schema: Schema<T>): schema is Internal<T> => RUN in schema;

/** Lets hand-written Schema objects (not built here) sit inside combinators. */
export const runOf = <T>(schema: Schema<T>): Run<T> => {
  if (isInternal(schema)) return schema[RUN];
  return (u) => {
    const r = schema.decode(u, "");
    return E.isLeft(r) ? fromWireError(r.left) : r.right;
  };
};

export const metaOf = (schema: Schema<unknown>): Meta => (isInternal(schema) ? schema[META] : PLAIN);

/** Objects whose own properties are read as fields: not arrays, not byte arrays. */
export const isRecordLike = (u: unknown): u is object =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !ArrayBuffer.isView(u);

/** Own properties only, so an inherited (or polluted) Object.prototype member never reads as a field. */
export const readOwn = (u: object, key: string): unknown =>
  Object.hasOwn(u, key) ? (u as Record<string, unknown>)[key] : undefined;

export const readField = (u: object, key: string): unknown =>
  u instanceof Map ? (u as Map<unknown, unknown>).get(key) : readOwn(u, key);
