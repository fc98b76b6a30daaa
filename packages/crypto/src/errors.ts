import { ErrorCode as SignalCode, LibSignalErrorBase } from "@signalapp/libsignal-client";

export const CryptoErrorCode = {
  InvalidKey: "invalid_key",
  BadSignature: "bad_signature",
  UntrustedIdentity: "untrusted_identity",
  DuplicatedMessage: "duplicated_message",
  InvalidMessage: "invalid_message",
  NoSession: "no_session",
  InvalidPreKey: "invalid_prekey",
  MacMismatch: "mac_mismatch",
  DigestMismatch: "digest_mismatch",
  Failed: "crypto_failed",
} as const;
export type CryptoErrorCode = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];

/** Messages are fixed per code: libsignal's own messages can name addresses, so they are not passed on. */
export interface CryptoError {
  readonly _tag: "CryptoError";
  readonly code: CryptoErrorCode;
  readonly message: string;
}

export const cryptoError = (code: CryptoErrorCode, message: string): CryptoError => ({ _tag: "CryptoError", code, message });

export const isCryptoError = (u: unknown): u is CryptoError =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "CryptoError";

/** Maps an exception thrown by libsignal to a typed error; anything else is a bug and rethrown. */
export const fromLibsignal = (err: unknown, what: string): CryptoError => {
  if (!(err instanceof LibSignalErrorBase)) {
    // libsignal also throws plain Errors (e.g. TypeError) for malformed input bytes.
    if (err instanceof Error) return cryptoError(CryptoErrorCode.InvalidMessage, `${what}: malformed input`);
    throw err;
  }
  switch (err.code) {
    case SignalCode.DuplicatedMessage:
      return cryptoError(CryptoErrorCode.DuplicatedMessage, `${what}: message already decrypted`);
    case SignalCode.UntrustedIdentity:
      return cryptoError(CryptoErrorCode.UntrustedIdentity, `${what}: identity key not trusted`);
    case SignalCode.InvalidSession:
      return cryptoError(CryptoErrorCode.NoSession, `${what}: no usable session`);
    case SignalCode.VerificationFailed:
      return cryptoError(CryptoErrorCode.BadSignature, `${what}: signature verification failed`);
    default:
      return cryptoError(CryptoErrorCode.InvalidMessage, `${what}: ${err.code === SignalCode.Generic ? "invalid message" : SignalCode[err.code] ?? "failed"}`);
  }
};
