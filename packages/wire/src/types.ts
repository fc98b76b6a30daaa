import type { Either } from "fp-ts/lib/Either.js";

export const WireErrorCode = {
  TooLarge: "too_large",
  TooDeep: "too_deep",
  Malformed: "malformed",
  Invalid: "invalid",
  UnsupportedVersion: "unsupported_version",
} as const;
export type WireErrorCode = (typeof WireErrorCode)[keyof typeof WireErrorCode];

/**
 * `message` states the rule that failed (expected type, limit) and never a field's value:
 * decoded values may be plaintext or key material, and errors end up in logs and replies.
 * `path` locates the field (`body.media.cap`, `targets[3]`, `details[#2]` for the third map
 * entry; map keys are data, so they are never spelled out).
 */
export interface WireError {
  readonly _tag: "WireError";
  readonly code: WireErrorCode;
  readonly message: string;
  readonly path?: string;
}

export interface CodecLimits {
  /** Whole message, checked before anything is parsed. */
  readonly maxBytes: number;
  /** Nested arrays/maps; a top-level array or map is depth 1. */
  readonly maxDepth: number;
  /** UTF-8 bytes of one string. */
  readonly maxStrLength: number;
  readonly maxBinLength: number;
  /** Elements of one array. */
  readonly maxArrayLength: number;
  /** Entries of one map. */
  readonly maxMapLength: number;
  /** Payload bytes of one ext value; 0 rejects ext types entirely. */
  readonly maxExtLength: number;
}

export interface Codec {
  readonly limits: CodecLimits;
  /**
   * Throws only on values msgpack cannot represent (functions, symbols, cycles): a bug in the
   * caller, not bad input. `undefined` object properties are dropped.
   */
  encode(value: unknown): Uint8Array;
  /**
   * Never throws. Decoded `bin` values are views into `bytes` (no copy): copy them if the
   * buffer is reused or wiped afterwards.
   */
  decode(bytes: Uint8Array): Either<WireError, unknown>;
}

export interface Schema<T> {
  readonly name: string;
  /** `path` prefixes the path of any error (e.g. "state" gives "state.field"). */
  decode(u: unknown, path?: string): Either<WireError, T>;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** Keys whose schema admits `undefined` (s.optional, s.unknown) become `?:` properties. */
export type OptionalKeys<P extends Record<string, Schema<any>>> = {
  [K in keyof P]-?: undefined extends Infer<P[K]> ? K : never;
}[keyof P];

export type ObjectOf<P extends Record<string, Schema<any>>> = Simplify<
  { [K in Exclude<keyof P, OptionalKeys<P>>]: Infer<P[K]> } & { [K in OptionalKeys<P>]?: Infer<P[K]> }
>;

/** Variant types of s.union: each variant's object type plus its tag as a literal. */
export type UnionOf<Tag extends string, V extends Record<string, Schema<any>>> = {
  [K in keyof V & string]: Simplify<{ [T in Tag]: K } & Omit<Infer<V[K]>, Tag>>;
}[keyof V & string];

export interface ErrorRecord {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly details?: Record<string, unknown>;
}

export type Reply =
  | { readonly v: 1; readonly ok: true; readonly body: unknown }
  | { readonly v: 1; readonly ok: false; readonly error: ErrorRecord };

export type AttachmentKind = "image" | "voice" | "video" | "file";

export interface AttachmentPointer {
  readonly id: string;
  /** Download capability issued by the media store, 16..64 bytes. */
  readonly cap: Uint8Array;
  /** AES-256 key ‖ HMAC-SHA256 key, 64 bytes. */
  readonly key: Uint8Array;
  /** SHA-256 of the encrypted blob, 32 bytes. */
  readonly digest: Uint8Array;
  readonly size: number;
  readonly mime: string;
  readonly fileName?: string;
  readonly width?: number;
  readonly height?: number;
  readonly durationMs?: number;
  /** ≤ 64 KiB */
  readonly thumbnail?: Uint8Array;
  /** ≤ 1 KiB */
  readonly waveform?: Uint8Array;
}

export type ReceiptStatus = "delivered" | "read" | "played";

export type ContentBody =
  | { readonly t: "text"; readonly text: string; readonly replyTo?: string }
  | {
      readonly t: "attachment";
      readonly kind: AttachmentKind;
      readonly media: AttachmentPointer;
      readonly caption?: string;
      readonly replyTo?: string;
    }
  | { readonly t: "reaction"; readonly target: string; readonly emoji: string; readonly remove?: boolean }
  | { readonly t: "edit"; readonly target: string; readonly text: string }
  | { readonly t: "delete"; readonly target: string }
  | { readonly t: "receipt"; readonly status: ReceiptStatus; readonly targets: readonly string[] };

export interface Content {
  readonly v: 1;
  /** Message id, ^[A-Za-z0-9_-]{1,64}$. */
  readonly id: string;
  /** ms since the epoch. */
  readonly sentAt: number;
  readonly body: ContentBody;
  /**
   * Set on the copy a sender's own other devices receive (Signal's sent transcript): the
   * conversation the message went to. Provider and user ids follow the subject token rules.
   */
  readonly sentTo?: { readonly provider: string; readonly user: string };
}
