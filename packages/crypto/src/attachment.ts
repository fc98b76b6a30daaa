import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Cipher, Decipher, Hash, Hmac } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { CryptoError } from "./errors.js";
import { CryptoErrorCode, cryptoError } from "./errors.js";

/**
 * Signal's attachment format: a fresh 64-byte key (AES-256 key ‖ HMAC-SHA256 key);
 * ciphertext = IV(16) ‖ AES-256-CBC/PKCS#7(plaintext) ‖ HMAC-SHA256(IV ‖ ct)(32);
 * digest = SHA-256 over that whole ciphertext, checked by the recipient (and by media-store on
 * upload). The key and digest travel only inside the end-to-end-encrypted message.
 *
 * The MAC covers the whole body, so a recipient can only trust the plaintext once the last byte
 * has arrived: the streaming decryptor hands out plaintext early, and its caller must throw it
 * away unless `final()` succeeds. Test vectors: `packages/crypto/test/vectors/attachment.json`.
 */
export interface EncryptedAttachment {
  readonly key: Uint8Array;
  readonly digest: Uint8Array;
  readonly ciphertext: Uint8Array;
}

export const ATTACHMENT_KEY_BYTES = 64;
export const ATTACHMENT_IV_BYTES = 16;
export const ATTACHMENT_MAC_BYTES = 32;
const IV = ATTACHMENT_IV_BYTES;
const MAC = ATTACHMENT_MAC_BYTES;
const BLOCK = 16;
/** The smallest ciphertext: IV, one padding block, MAC. */
export const ATTACHMENT_MIN_CIPHERTEXT = IV + BLOCK + MAC;
/** Plaintext is fed to the cipher in slices of this size, so no step copies a whole file. */
const SLICE = 256 * 1024;

/** Ciphertext length for `plaintextLength` bytes: IV + PKCS#7-padded body + MAC. */
export const attachmentCiphertextLength = (plaintextLength: number): number =>
  IV + (Math.floor(plaintextLength / BLOCK) + 1) * BLOCK + MAC;

/** The most plaintext a ciphertext of `ciphertextLength` bytes can hold (at least one padding byte). */
export const attachmentMaxPlaintextLength = (ciphertextLength: number): number => Math.max(0, ciphertextLength - IV - MAC - 1);

const checkKey = (key: Uint8Array, iv: Uint8Array): void => {
  if (key.length !== ATTACHMENT_KEY_BYTES || iv.length !== IV) throw new Error("attachment key must be 64 bytes and iv 16");
};

/**
 * Encrypts in pieces: `update` returns ciphertext (the first call starts with the IV), `final`
 * the last block and the MAC; `digest` is there after `final`.
 */
export class AttachmentEncryptor {
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
  readonly #cipher: Cipher;
  readonly #hmac: Hmac;
  readonly #sha: Hash = createHash("sha256");
  #started = false;
  #digest: Uint8Array | undefined;

  constructor(key: Uint8Array = randomBytes(ATTACHMENT_KEY_BYTES), iv: Uint8Array = randomBytes(IV)) {
    checkKey(key, iv);
    this.key = key;
    this.iv = iv;
    this.#cipher = createCipheriv("aes-256-cbc", key.subarray(0, 32), iv);
    this.#hmac = createHmac("sha256", key.subarray(32)).update(iv);
  }

  #emit(body: Buffer): Buffer {
    this.#hmac.update(body);
    const out = this.#started ? body : Buffer.concat([this.iv, body]);
    this.#started = true;
    this.#sha.update(out);
    return out;
  }

  update(plaintext: Uint8Array): Buffer {
    if (this.#digest !== undefined) throw new Error("attachment encryptor already finished");
    return this.#emit(this.#cipher.update(plaintext));
  }

  final(): Buffer {
    if (this.#digest !== undefined) throw new Error("attachment encryptor already finished");
    const last = this.#emit(this.#cipher.final());
    const mac = this.#hmac.digest();
    this.#sha.update(mac);
    this.#digest = this.#sha.digest();
    return Buffer.concat([last, mac]);
  }

  get digest(): Uint8Array {
    if (this.#digest === undefined) throw new Error("attachment digest is known only after final()");
    return this.#digest;
  }
}

/**
 * One-shot encryption into a single buffer of exactly the ciphertext's length (the plaintext is
 * encrypted slice by slice and copied in place, so memory peaks at plaintext + ciphertext).
 */
export const encryptAttachment = (plaintext: Uint8Array, key: Uint8Array = randomBytes(ATTACHMENT_KEY_BYTES), iv: Uint8Array = randomBytes(IV)): EncryptedAttachment => {
  const enc = new AttachmentEncryptor(key, iv);
  const ciphertext = Buffer.allocUnsafe(attachmentCiphertextLength(plaintext.length));
  let pos = 0;
  const put = (b: Buffer): void => {
    ciphertext.set(b, pos);
    pos += b.length;
  };
  for (let off = 0; off < plaintext.length; off += SLICE) put(enc.update(plaintext.subarray(off, off + SLICE)));
  put(enc.final());
  if (pos !== ciphertext.length) throw new Error("attachment ciphertext length is inconsistent");
  return { key, digest: enc.digest, ciphertext };
};

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b);

/**
 * Decrypts in pieces, in order, for a ciphertext whose total length is known up front (media-store
 * answers it with the first range). Plaintext from `update` is NOT authenticated: keep it aside
 * and use it only if `final()` answers Right (digest, MAC and padding all check).
 */
export class AttachmentDecryptor {
  readonly #key: Uint8Array;
  readonly #digest: Uint8Array;
  readonly #length: number;
  readonly #sha: Hash = createHash("sha256");
  readonly #hmac: Hmac;
  readonly #iv = Buffer.alloc(IV);
  readonly #mac = Buffer.alloc(MAC);
  #decipher: Decipher | undefined;
  #pos = 0;
  #done = false;

  /** Throws on a key or length that cannot be an attachment; check with `canDecrypt` first. */
  constructor(key: Uint8Array, digest: Uint8Array, ciphertextLength: number) {
    const bad = AttachmentDecryptor.check(key, ciphertextLength);
    if (bad !== null) throw new Error(bad.message);
    this.#key = key;
    this.#digest = digest;
    this.#length = ciphertextLength;
    this.#hmac = createHmac("sha256", key.subarray(32));
  }

  /** Null when a decryptor can be built for this key and ciphertext length. */
  static check(key: Uint8Array, ciphertextLength: number): CryptoError | null {
    if (key.length !== ATTACHMENT_KEY_BYTES) return cryptoError(CryptoErrorCode.InvalidKey, "attachment key has the wrong length");
    if (!Number.isSafeInteger(ciphertextLength) || ciphertextLength < ATTACHMENT_MIN_CIPHERTEXT || (ciphertextLength - IV - MAC) % BLOCK !== 0) {
      return cryptoError(CryptoErrorCode.InvalidMessage, "attachment ciphertext has an impossible length");
    }
    return null;
  }

  /** Ciphertext bytes taken so far. */
  get position(): number {
    return this.#pos;
  }

  update(piece: Uint8Array): Buffer {
    if (this.#done) throw new Error("attachment decryptor already finished");
    const end = this.#pos + piece.length;
    if (end > this.#length) {
      // More bytes than announced: poison the state so final() fails.
      this.#pos = this.#length + 1;
      return Buffer.alloc(0);
    }
    this.#sha.update(piece);
    const bodyEnd = this.#length - MAC;
    const outs: Buffer[] = [];
    // IV part.
    if (this.#pos < IV) {
      const n = Math.min(IV - this.#pos, piece.length);
      this.#iv.set(piece.subarray(0, n), this.#pos);
      if (this.#pos + n === IV) {
        this.#hmac.update(this.#iv);
        this.#decipher = createDecipheriv("aes-256-cbc", this.#key.subarray(0, 32), this.#iv);
      }
    }
    // Body part.
    const bStart = Math.max(this.#pos, IV);
    const bEnd = Math.min(end, bodyEnd);
    if (bEnd > bStart) {
      const body = piece.subarray(bStart - this.#pos, bEnd - this.#pos);
      this.#hmac.update(body);
      outs.push(this.#decipher!.update(body));
    }
    // MAC part.
    const mStart = Math.max(this.#pos, bodyEnd);
    if (end > mStart) this.#mac.set(piece.subarray(mStart - this.#pos, end - this.#pos), mStart - bodyEnd);
    this.#pos = end;
    return outs.length === 1 ? outs[0]! : Buffer.alloc(0);
  }

  /** Checks length, digest, MAC and padding; Right with the last plaintext bytes. */
  final(): Either<CryptoError, Buffer> {
    if (this.#done) throw new Error("attachment decryptor already finished");
    this.#done = true;
    if (this.#pos !== this.#length) return E.left(cryptoError(CryptoErrorCode.InvalidMessage, "attachment ciphertext has the wrong length"));
    if (!sameBytes(this.#sha.digest(), this.#digest)) return E.left(cryptoError(CryptoErrorCode.DigestMismatch, "attachment digest does not match"));
    if (!sameBytes(this.#hmac.digest(), this.#mac)) return E.left(cryptoError(CryptoErrorCode.MacMismatch, "attachment MAC does not verify"));
    try {
      return E.right(this.#decipher!.final());
    } catch {
      return E.left(cryptoError(CryptoErrorCode.InvalidMessage, "attachment padding is invalid"));
    }
  }
}

/** One-shot: checks digest and MAC over the whole ciphertext first, then decrypts. */
export const decryptAttachment = (ciphertext: Uint8Array, key: Uint8Array, digest: Uint8Array): Either<CryptoError, Uint8Array> => {
  if (key.length !== ATTACHMENT_KEY_BYTES) return E.left(cryptoError(CryptoErrorCode.InvalidKey, "attachment key has the wrong length"));
  if (ciphertext.length < ATTACHMENT_MIN_CIPHERTEXT) return E.left(cryptoError(CryptoErrorCode.InvalidMessage, "attachment ciphertext too short"));
  const actual = createHash("sha256").update(ciphertext).digest();
  if (!sameBytes(actual, digest)) {
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
