import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import { FORBIDDEN_KEYS } from "./scan.js";
import { Failure, fromWireError, isRecordLike, make, metaOf, readField, readOwn, runOf } from "./schema-core.js";
import type { Run } from "./schema-core.js";
import { WireErrorCode } from "./types.js";
import type { ObjectOf, Schema, UnionOf, WireError } from "./types.js";

const invalid = (message: string): Failure => new Failure(WireErrorCode.Invalid, message);

interface Range {
  readonly min?: number;
  readonly max?: number;
}

const bounds = (kind: string, opts: Range | undefined): { min: number; max: number } => {
  const min = opts?.min ?? 0;
  const max = opts?.max ?? Number.POSITIVE_INFINITY;
  if (Number.isNaN(min) || Number.isNaN(max) || min > max) throw new RangeError(`s.${kind}: min must not exceed max`);
  return { min, max };
};

const numberBounds = (kind: string, opts: Range | undefined): { min: number; max: number } => {
  const min = opts?.min ?? Number.NEGATIVE_INFINITY;
  const max = opts?.max ?? Number.POSITIVE_INFINITY;
  if (Number.isNaN(min) || Number.isNaN(max) || min > max) throw new RangeError(`s.${kind}: min must not exceed max`);
  return { min, max };
};

const str = (opts?: Range & { readonly pattern?: RegExp }): Schema<string> => {
  const { min, max } = bounds("str", opts);
  // A /g or /y pattern keeps lastIndex between test() calls and would reject every other input.
  const re = opts?.pattern === undefined ? undefined : new RegExp(opts.pattern.source, opts.pattern.flags.replace(/[gy]/g, ""));
  return make("string", (u) => {
    if (typeof u !== "string") return invalid("expected string");
    if (u.length < min) return invalid(`shorter than ${min} characters`);
    if (u.length > max) return invalid(`longer than ${max} characters`);
    if (re !== undefined && !re.test(u)) return invalid(`does not match ${re}`);
    return u;
  });
};

const bytes = (opts?: Range): Schema<Uint8Array> => {
  const { min, max } = bounds("bytes", opts);
  return make("bytes", (u) => {
    if (!(u instanceof Uint8Array)) return invalid("expected bytes");
    if (u.length < min) return invalid(`shorter than ${min} bytes`);
    if (u.length > max) return invalid(`longer than ${max} bytes`);
    return u;
  });
};

const int = (opts?: Range): Schema<number> => {
  const { min, max } = numberBounds("int", opts);
  return make("int", (u) => {
    if (typeof u !== "number" || !Number.isSafeInteger(u)) return invalid("expected safe integer");
    if (u < min) return invalid(`less than ${min}`);
    if (u > max) return invalid(`greater than ${max}`);
    return u;
  });
};

const num = (opts?: Range): Schema<number> => {
  const { min, max } = numberBounds("num", opts);
  return make("number", (u) => {
    if (typeof u !== "number" || !Number.isFinite(u)) return invalid("expected finite number");
    if (u < min) return invalid(`less than ${min}`);
    if (u > max) return invalid(`greater than ${max}`);
    return u;
  });
};

const bool = (): Schema<boolean> => make("boolean", (u) => (typeof u === "boolean" ? u : invalid("expected boolean")));

const literal = <L extends string | number | boolean>(v: L): Schema<L> => {
  const message = `expected ${JSON.stringify(v)}`;
  return make(JSON.stringify(v), (u) => (u === v ? v : invalid(message)));
};

const oneOf = <L extends string>(values: readonly L[]): Schema<L> => {
  if (values.length === 0) throw new RangeError("s.oneOf: needs at least one value");
  const set: ReadonlySet<string> = new Set(values);
  const message = `expected one of ${values.join("|")}`;
  return make(values.join("|"), (u) => (typeof u === "string" && set.has(u) ? (u as L) : invalid(message)));
};

const array = <T>(item: Schema<T>, opts?: Range): Schema<T[]> => {
  const { min, max } = bounds("array", opts);
  const run = runOf(item);
  return make(`${item.name}[]`, (u) => {
    if (!Array.isArray(u)) return invalid("expected array");
    const n = u.length;
    if (n < min) return invalid(`fewer than ${min} elements`);
    if (n > max) return invalid(`more than ${max} elements`);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) {
      const r = run(u[i]);
      if (r instanceof Failure) return r.at(`[${i}]`);
      out[i] = r;
    }
    return out;
  });
};

const objectNamed = <P extends Record<string, Schema<any>>>(name: string, shape: P): Schema<ObjectOf<P>> => {
  const keys = Object.keys(shape);
  for (const k of keys) if (FORBIDDEN_KEYS.has(k)) throw new TypeError(`s.object: field name '${k}' is not allowed`);
  const runs: Run<unknown>[] = keys.map((k) => runOf(shape[k]!));
  const optional: boolean[] = keys.map((k) => metaOf(shape[k]!).acceptsUndefined);
  const n = keys.length;
  return make(
    name,
    (u) => {
      if (!isRecordLike(u)) return invalid("expected object");
      const fromMap = u instanceof Map;
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const k = keys[i]!;
        const v = fromMap ? (u as Map<unknown, unknown>).get(k) : readOwn(u, k);
        if (v === undefined && !optional[i]) return invalid("missing required field").at(`.${k}`);
        const r = runs[i]!(v);
        if (r instanceof Failure) return r.at(`.${k}`);
        // Optional fields that are missing or nil stay absent rather than present-but-undefined.
        if (r !== undefined) out[k] = r;
      }
      return out as ObjectOf<P>;
    },
    { acceptsUndefined: false, acceptsNull: false, shape },
  );
};

const object = <P extends Record<string, Schema<any>>>(shape: P): Schema<ObjectOf<P>> => objectNamed("object", shape);

/**
 * Missing and nil both mean absent: other msgpack encoders write an unset optional as nil.
 * If the inner schema itself accepts null (s.nullable), nil is kept as null.
 */
const optional = <T>(x: Schema<T>): Schema<T | undefined> => {
  const run = runOf(x);
  const keepNull = metaOf(x).acceptsNull;
  return make(
    `${x.name}?`,
    (u) => (u === undefined || (u === null && !keepNull) ? undefined : run(u)),
    { acceptsUndefined: true, acceptsNull: true },
  );
};

const nullable = <T>(x: Schema<T>): Schema<T | null> => {
  const run = runOf(x);
  return make(`${x.name} | null`, (u) => (u === null ? null : run(u)), {
    acceptsUndefined: metaOf(x).acceptsUndefined,
    acceptsNull: true,
  });
};

const unknown = (): Schema<unknown> => make("unknown", (u) => u, { acceptsUndefined: true, acceptsNull: true });

const union = <Tag extends string, V extends Record<string, Schema<any>>>(tag: Tag, variants: V): Schema<UnionOf<Tag, V>> => {
  const names = Object.keys(variants);
  if (names.length === 0) throw new RangeError("s.union: needs at least one variant");
  // Null prototype: a tag such as "constructor" must not find an inherited member.
  const runs: Record<string, Run<unknown>> = Object.create(null);
  for (const name of names) {
    const variant = variants[name]!;
    const shape = metaOf(variant).shape;
    if (shape === undefined) throw new TypeError("s.union: variants must be s.object or record schemas");
    const tagged = Object.hasOwn(shape, tag) ? variant : objectNamed(variant.name, { [tag]: literal(name), ...shape });
    runs[name] = runOf(tagged);
  }
  const message = `expected one of ${names.join("|")}`;
  return make(`union(${tag})`, (u) => {
    if (!isRecordLike(u)) return invalid("expected object");
    const t = readField(u, tag);
    const run = typeof t === "string" ? runs[t] : undefined;
    if (run === undefined) return invalid(message).at(`.${tag}`);
    return run(u) as UnionOf<Tag, V>;
  });
};

const map = <T>(value: Schema<T>, opts?: { readonly max?: number; readonly key?: Schema<string> }): Schema<Record<string, T>> => {
  const max = opts?.max ?? Number.POSITIVE_INFINITY;
  const runValue = runOf(value);
  const runKey = opts?.key === undefined ? undefined : runOf(opts.key);
  const entry = (out: Record<string, T>, i: number, k: unknown, v: unknown): Failure | undefined => {
    if (typeof k !== "string") return invalid("map key must be a string").at(`[#${i}]`);
    // Null-prototype output already makes these harmless here; refusing them keeps them from
    // reaching code that later copies this map into an ordinary object.
    if (FORBIDDEN_KEYS.has(k)) return invalid("map key is not allowed").at(`[#${i}]`);
    if (runKey !== undefined) {
      const rk = runKey(k);
      if (rk instanceof Failure) return invalid(`invalid map key: ${rk.message}`).at(`[#${i}]`);
    }
    const r = runValue(v);
    if (r instanceof Failure) return r.at(`[#${i}]`);
    out[k] = r;
    return undefined;
  };
  return make(`map<${value.name}>`, (u) => {
    if (!isRecordLike(u)) return invalid("expected map");
    const out: Record<string, T> = Object.create(null);
    if (u instanceof Map) {
      if (u.size > max) return invalid(`more than ${max} entries`);
      let i = 0;
      for (const [k, v] of u) {
        const f = entry(out, i++, k, v);
        if (f !== undefined) return f;
      }
      return out;
    }
    const keys = Object.keys(u);
    if (keys.length > max) return invalid(`more than ${max} entries`);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const f = entry(out, i, k, (u as Record<string, unknown>)[k]);
      if (f !== undefined) return f;
    }
    return out;
  });
};

const custom = <T>(name: string, f: (u: unknown, path: string) => Either<WireError, T>): Schema<T> => {
  const internal = make<T>(name, (u) => {
    const r = f(u, "");
    return E.isLeft(r) ? fromWireError(r.left) : r.right;
  });
  // Called directly, the function sees the caller's path and its errors are passed on untouched.
  return { ...internal, decode: (u: unknown, path = "") => f(u, path) };
};

export const s = {
  str,
  bytes,
  int,
  num,
  bool,
  literal,
  oneOf,
  array,
  object,
  optional,
  nullable,
  union,
  map,
  custom,
  /** Anything, including absent: for payloads validated later by whoever knows their type. */
  unknown,
} as const;

export { objectNamed };
