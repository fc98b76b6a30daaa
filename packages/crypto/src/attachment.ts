import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { CryptoError } from "./errors.js";
import { CryptoErrorCode, cryptoError } from "./errors.js";

/**
 * Signal's attachment format: a fresh 64-byte key (AES-256 key ‖ HMAC-SHA256 key);
 * ciphertext = IV(16) ‖ AES-256-CBC/PKCS#7(plaintext) ‖ HMAC-SHA256(IV ‖ ct)(32);
 * digest = SHA-256 over that whole ciphertext, checked by the recipient (and by media-store on
 * upload). The key and digest travel only inside the end-to-end-encrypted message.
 */
export interface EncryptedAttachment {
  readonly key: Uint8Array;
  readonly digest: Uint8Array;
  readonly ciphertext: Uint8Array;
}

export const ATTACHMENT_KEY_BYTES = 64;
const IV = 16;
const MAC = 32;

export const encryptAttachment = (plaintext: Uint8Array, key: Uint8Array = randomBytes(ATTACHMENT_KEY_BYTES), iv: Uint8Array = randomBytes(IV)): EncryptedAttachment => {
  if (key.length !== ATTACHMENT_KEY_BYTES || iv.length !== IV) throw new Error("attachment key must be 64 bytes and iv 16");
  const cipher = createCipheriv("aes-256-cbc", key.subarray(0, 32), iv);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const mac = createHmac("sha256", key.subarray(32)).update(iv).update(body).digest();
  const ciphertext = Buffer.concat([iv, body, mac]);
  return { key, digest: createHash("sha256").update(ciphertext).digest(), ciphertext };
};

export const decryptAttachment = (ciphertext: Uint8Array, key: Uint8Array, digest: Uint8Array): Either<CryptoError, Uint8Array> => {
  if (key.length !== ATTACHMENT_KEY_BYTES) return E.left(cryptoError(CryptoErrorCode.InvalidKey, "attachment key has the wrong length"));
  if (ciphertext.length < IV + 16 + MAC) return E.left(cryptoError(CryptoErrorCode.InvalidMessage, "attachment ciphertext too short"));
  const actual = createHash("sha256").update(ciphertext).digest();
  if (digest.length !== actual.length || !timingSafeEqual(actual, digest)) {
    return E.left(cryptoError(CryptoErrorCode.DigestMismatch, "attachment digest does not match"));
  }
  const iv = ciphertext.subarray(0, IV);
  const body = ciphertext.subarray(IV, ciphertext.length - MAC);
  const mac = ciphertext.subarray(ciphertext.length - MAC);
  const expected = createHmac("sha256", key.subarray(32)).update(iv).update(body).digest();
  if (!timingSafeEqual(expected, mac)) return E.left(cryptoError(CryptoErrorCode.MacMismatch, "attachment MAC does not verify"));
  try {
    const d = createDecipheriv("aes-256-cbc", key.subarray(0, 32), iv);
    return E.right(Buffer.concat([d.update(body), d.final()]));
  } catch {
    return E.left(cryptoError(CryptoErrorCode.InvalidMessage, "attachment padding is invalid"));
  }
};
