import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import { Failure, make } from "./schema-core.js";
import { objectNamed } from "./schema.js";
import { WireErrorCode } from "./types.js";
import type { Codec, ObjectOf, Schema, WireError } from "./types.js";

export type RecordOf<V extends number, P extends Record<string, Schema<any>>> = ObjectOf<{ v: Schema<V> } & P>;

const versionField = <V extends number>(version: V): Schema<V> => {
  const unsupported = `unsupported version; this build reads version ${version}`;
  return make(`v${version}`, (u) => {
    if (typeof u !== "number") return new Failure(WireErrorCode.Invalid, "expected version number");
    return u === version ? version : new Failure(WireErrorCode.UnsupportedVersion, unsupported);
  });
};

/**
 * `v` is checked before any other field, so a peer speaking another version gets
 * unsupported_version rather than a confusing complaint about some field that moved.
 */
export const record = <V extends number, P extends Record<string, Schema<any>>>(
  name: string,
  version: V,
  shape: P,
): Schema<RecordOf<V, P>> => {
  if (!Number.isSafeInteger(version)) throw new RangeError("record: version must be an integer");
  if (Object.hasOwn(shape, "v")) throw new TypeError("record: the shape must not define 'v'; it is the version field");
  return objectNamed(name, { v: versionField(version), ...shape }) as unknown as Schema<RecordOf<V, P>>;
};

export const decodeWith = <T>(codec: Codec, schema: Schema<T>, bytes: Uint8Array): Either<WireError, T> => {
  const u = codec.decode(bytes);
  return E.isLeft(u) ? u : schema.decode(u.right);
};
