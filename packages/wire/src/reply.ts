import { Failure, isRecordLike, make, readField, runOf } from "./schema-core.js";
import { s } from "./schema.js";
import { WireErrorCode } from "./types.js";
import type { ErrorRecord, Reply, Schema, WireError } from "./types.js";

export const ERROR_CODE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_ERROR_MESSAGE = 1024;
const MAX_DETAILS = 64;

export const ErrorRecordSchema: Schema<ErrorRecord> = s.object({
  code: s.str({ pattern: ERROR_CODE_PATTERN }),
  message: s.str({ max: MAX_ERROR_MESSAGE }),
  retryable: s.bool(),
  retryAfterMs: s.optional(s.int({ min: 0 })),
  details: s.optional(s.map(s.unknown(), { max: MAX_DETAILS, key: s.str({ min: 1, max: 64 }) })),
});

const runError = runOf(ErrorRecordSchema);

/**
 * Written by hand rather than with s.union: the discriminator is a boolean, and `body` is
 * passed on undecoded for the caller's own schema (an undefined body is dropped by the
 * encoder, so a missing body reads back as undefined).
 */
export const ReplySchema: Schema<Reply> = make<Reply>("Reply", (u) => {
  if (!isRecordLike(u)) return new Failure(WireErrorCode.Invalid, "expected object");
  const v = readField(u, "v");
  if (typeof v !== "number") return new Failure(WireErrorCode.Invalid, "expected version number").at(".v");
  if (v !== 1) return new Failure(WireErrorCode.UnsupportedVersion, "unsupported version; this build reads version 1").at(".v");
  const ok = readField(u, "ok");
  if (ok === true) return { v: 1, ok: true, body: readField(u, "body") };
  if (ok !== false) return new Failure(WireErrorCode.Invalid, "expected boolean").at(".ok");
  const raw = readField(u, "error");
  if (raw === undefined) return new Failure(WireErrorCode.Invalid, "missing required field").at(".error");
  const error = runError(raw);
  if (error instanceof Failure) return error.at(".error");
  return { v: 1, ok: false, error };
});

export const okReply = (body: unknown): Reply => ({ v: 1, ok: true, body });

export const errReply = (e: ErrorRecord): Reply => ({ v: 1, ok: false, error: e });

const RECORD_CODE: Record<WireError["code"], string> = {
  invalid: "bad_request",
  malformed: "bad_request",
  too_deep: "bad_request",
  too_large: "too_large",
  unsupported_version: "unsupported_version",
};

/** The wire error's message and path are already value-free, so they can go to the peer. */
export const wireErrorToRecord = (e: WireError): ErrorRecord => ({
  code: RECORD_CODE[e.code] ?? "bad_request",
  message: e.message,
  retryable: false,
  details: e.path === undefined ? { wire: e.code } : { wire: e.code, path: e.path },
});
