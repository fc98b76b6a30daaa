import type { ErrorRecord } from "@interlink/wire";
import { isWireError, wireErrorToRecord } from "@interlink/wire";

/** Error codes every service understands; services add their own domain codes beside these. */
export const ErrorCode = {
  BadRequest: "bad_request",
  TooLarge: "too_large",
  UnsupportedVersion: "unsupported_version",
  Overloaded: "overloaded",
  Timeout: "timeout",
  NoResponders: "no_responders",
  Unavailable: "unavailable",
  NotFound: "not_found",
  Conflict: "conflict",
  RateLimited: "rate_limited",
  Forbidden: "forbidden",
  Internal: "internal",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The one error shape that crosses process boundaries: an ErrorRecord with a tag so it can be
 * told apart from other values. `code` is open (services add domain codes such as
 * `mismatched_devices`), so callers narrow on it.
 */
export interface ServiceError extends ErrorRecord {
  readonly _tag: "ServiceError";
}

export const isServiceError = (u: unknown): u is ServiceError =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "ServiceError";

export const serviceError = (
  code: string,
  message: string,
  opts: { retryable?: boolean; retryAfterMs?: number; details?: Record<string, unknown> } = {},
): ServiceError => ({
  _tag: "ServiceError",
  code,
  message,
  retryable: opts.retryable ?? false,
  ...(opts.retryAfterMs !== undefined ? { retryAfterMs: opts.retryAfterMs } : {}),
  ...(opts.details !== undefined ? { details: opts.details } : {}),
});

export const fromRecord = (r: ErrorRecord): ServiceError => ({ ...r, _tag: "ServiceError" });

export const toRecord = (e: ServiceError): ErrorRecord => {
  const { _tag, ...rest } = e;
  void _tag;
  return rest;
};

export const fromWireError = (u: unknown): ServiceError =>
  isWireError(u)
    ? fromRecord(wireErrorToRecord(u))
    : serviceError(ErrorCode.BadRequest, "request could not be decoded");

export const overloaded = (what: string, retryAfterMs = 50): ServiceError =>
  serviceError(ErrorCode.Overloaded, `${what} is overloaded`, { retryable: true, retryAfterMs });

export const internal = (message = "internal error"): ServiceError =>
  serviceError(ErrorCode.Internal, message, { retryable: true });

export const timeout = (what: string): ServiceError =>
  serviceError(ErrorCode.Timeout, `${what} timed out`, { retryable: true });

export const noResponders = (what: string): ServiceError =>
  serviceError(ErrorCode.NoResponders, `no instance answers ${what}`, { retryable: true, retryAfterMs: 250 });
