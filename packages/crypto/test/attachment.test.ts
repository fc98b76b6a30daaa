import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { createHash, randomBytes } from "node:crypto";
import { CryptoErrorCode, decryptAttachment, encryptAttachment } from "../src/index.js";

describe("attachment cipher (AES-256-CBC + HMAC-SHA256, Signal layout)", () => {
  it("round trips and lays out IV ‖ ciphertext ‖ MAC with a digest over all of it", () => {
    const plain = randomBytes(100_001);
    const a = encryptAttachment(plain);
    expect(a.key.length).toBe(64);
    // 16 IV + PKCS#7-padded body + 32 MAC
    expect(a.ciphertext.length).toBe(16 + (Math.floor(plain.length / 16) + 1) * 16 + 32);
    expect(Buffer.from(a.digest)).toEqual(createHash("sha256").update(a.ciphertext).digest());
    const back = decryptAttachment(a.ciphertext, a.key, a.digest);
    expect(E.isRight(back) && Buffer.from(back.right).equals(plain)).toBe(true);
  });

  it("is deterministic for a fixed key and IV (a vector the SDK and tests can share)", () => {
    const key = new Uint8Array(64).map((_, i) => i);
    const iv = new Uint8Array(16).map((_, i) => 0xf0 + i);
    const a = encryptAttachment(new TextEncoder().encode("interlink"), key, iv);
    const b = encryptAttachment(new TextEncoder().encode("interlink"), key, iv);
    expect(Buffer.from(a.ciphertext).toString("hex")).toBe(Buffer.from(b.ciphertext).toString("hex"));
    expect(a.ciphertext.length).toBe(16 + 16 + 32);
  });

  it("rejects a flipped bit, a wrong digest and a wrong key with typed errors", () => {
    const a = encryptAttachment(randomBytes(1000));
    const flipped = Buffer.from(a.ciphertext);
    flipped[40] = flipped[40]! ^ 1;
    const d1 = decryptAttachment(flipped, a.key, a.digest);
    expect(E.isLeft(d1) && d1.left.code).toBe(CryptoErrorCode.DigestMismatch);
    const d2 = decryptAttachment(flipped, a.key, createHash("sha256").update(flipped).digest());
    expect(E.isLeft(d2) && d2.left.code).toBe(CryptoErrorCode.MacMismatch);
    const d3 = decryptAttachment(a.ciphertext, randomBytes(64), a.digest);
    expect(E.isLeft(d3) && d3.left.code).toBe(CryptoErrorCode.MacMismatch);
    const d4 = decryptAttachment(a.ciphertext, randomBytes(10), a.digest);
    expect(E.isLeft(d4) && d4.left.code).toBe(CryptoErrorCode.InvalidKey);
  });
});
