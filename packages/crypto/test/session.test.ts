import { describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { IdentityKeyPair } from "@signalapp/libsignal-client";
import type { ClaimedBundle, NewDevice, PreKeySource } from "../src/index.js";
import {
  CryptoErrorCode,
  MessageType,
  decrypt,
  encrypt,
  generateDevice,
  newScope,
  protocolAddress,
  safetyNumber,
  startSession,
  verifyUpload,
} from "../src/index.js";

const now = new Date("2026-11-26T12:00:00Z");

const source = (d: NewDevice): PreKeySource & { removed: number[] } => {
  const pre = new Map(d.preKeys.map((r) => [r.id, r.record]));
  const kyber = new Map([...d.kyberPreKeys, d.kyberLastResort].map((r) => [r.id, r.record]));
  const removed: number[] = [];
  return {
    removed,
    getPreKey: async (id) => pre.get(id) ?? null,
    removePreKey: async (id) => {
      pre.delete(id);
      removed.push(id);
    },
    getSignedPreKey: async (id) => (id === d.signedPreKey.id ? d.signedPreKey.record : null),
    getKyberPreKey: async (id) => kyber.get(id) ?? null,
    markKyberPreKeyUsed: async (id) => {
      if (id !== d.kyberLastResort.id) kyber.delete(id);
    },
  };
};

const bundleOf = (d: NewDevice, deviceId: number, oneTime: boolean): ClaimedBundle => ({
  deviceId,
  registrationId: d.registrationId,
  identityKey: d.upload.identityKey,
  signedPreKey: d.upload.signedPreKey,
  ...(oneTime ? { preKey: d.upload.preKeys[0]! } : {}),
  kyberPreKey: oneTime ? d.upload.kyberPreKeys[0]! : d.upload.kyberLastResort,
});

describe("signal sessions through scopes", () => {
  const alice = generateDevice({ preKeys: 2, kyberPreKeys: 2, now: now.getTime() });
  const bob = generateDevice({ preKeys: 2, kyberPreKeys: 2, now: now.getTime() });
  const aAddr = protocolAddress("alpha/alice", 1);
  const bAddr = protocolAddress("beta/bob", 1);

  it("verifies a genuine upload and refuses a forged signature", () => {
    expect(E.isRight(verifyUpload(bob.upload))).toBe(true);
    const sig = new Uint8Array(bob.upload.signedPreKey.sig);
    sig[5] = sig[5]! ^ 1;
    const forged = { ...bob.upload, signedPreKey: { ...bob.upload.signedPreKey, sig } };
    const r = verifyUpload(forged);
    expect(E.isLeft(r) && r.left.code).toBe(CryptoErrorCode.BadSignature);
    const other = IdentityKeyPair.generate();
    const wrongIdentity = { ...bob.upload, identityKey: other.publicKey.serialize() };
    expect(E.isLeft(verifyUpload(wrongIdentity))).toBe(true);
  });

  it("runs PQXDH, a PreKey message, a reply and replay detection", async () => {
    const aIdentity = IdentityKeyPair.deserialize(Buffer.from(alice.identity));
    const bIdentity = IdentityKeyPair.deserialize(Buffer.from(bob.identity));
    const aScope = newScope(aIdentity, alice.registrationId, null, null);
    const started = await startSession(aScope, bundleOf(bob, 1, true), bAddr, aAddr, now);
    expect(E.isRight(started)).toBe(true);
    const c1 = await encrypt(aScope, new TextEncoder().encode("hello bob"), bAddr, aAddr, now);
    if (E.isLeft(c1)) throw new Error(c1.left.message);
    expect(c1.right.type).toBe(MessageType.PreKey);

    const bScope = newScope(bIdentity, bob.registrationId, null, null);
    const bKeys = source(bob);
    const p1 = await decrypt(bScope, c1.right, aAddr, bAddr, bKeys);
    if (E.isLeft(p1)) throw new Error(p1.left.message);
    expect(new TextDecoder().decode(p1.right)).toBe("hello bob");
    expect(bKeys.removed).toEqual([bob.upload.preKeys[0]!.id]);
    expect(bScope.sessionChanged && bScope.identityChanged).toBe(true);

    // Persist and reload both sessions as bytes, as the ratchet does between messages.
    const bReloaded = newScope(bIdentity, bob.registrationId, bScope.session!.serialize(), bScope.remoteIdentity!.serialize());
    const reply = await encrypt(bReloaded, new TextEncoder().encode("hi alice"), aAddr, bAddr, now);
    if (E.isLeft(reply)) throw new Error(reply.left.message);
    expect(reply.right.type).toBe(MessageType.Whisper);
    const aReloaded = newScope(aIdentity, alice.registrationId, aScope.session!.serialize(), aScope.remoteIdentity!.serialize());
    const p2 = await decrypt(aReloaded, reply.right, bAddr, aAddr, source(alice));
    expect(E.isRight(p2) && new TextDecoder().decode(p2.right)).toBe("hi alice");

    const again = await decrypt(aReloaded, reply.right, bAddr, aAddr, source(alice));
    expect(E.isLeft(again) && again.left.code).toBe(CryptoErrorCode.DuplicatedMessage);

    const garbage = await decrypt(aReloaded, { type: MessageType.Whisper, body: new Uint8Array([1, 2, 3]) }, bAddr, aAddr, source(alice));
    expect(E.isLeft(garbage) && garbage.left.code).toBe(CryptoErrorCode.InvalidMessage);
  });

  it("trusts on first use and flags a changed identity; strict mode refuses it", async () => {
    const aIdentity = IdentityKeyPair.deserialize(Buffer.from(alice.identity));
    const first = newScope(aIdentity, alice.registrationId, null, null);
    expect(E.isRight(await startSession(first, bundleOf(bob, 1, false), bAddr, aAddr, now))).toBe(true);
    expect(first.identityChanged && !first.identityReplaced).toBe(true);

    const stranger = IdentityKeyPair.generate();
    const changed = newScope(aIdentity, alice.registrationId, null, stranger.publicKey.serialize());
    expect(E.isRight(await startSession(changed, bundleOf(bob, 1, false), bAddr, aAddr, now))).toBe(true);
    expect(changed.identityReplaced).toBe(true);
    expect(Buffer.from(changed.remoteIdentity!.serialize()).equals(Buffer.from(bob.upload.identityKey))).toBe(true);

    const strict = newScope(aIdentity, alice.registrationId, null, stranger.publicKey.serialize(), "strict");
    const r = await startSession(strict, bundleOf(bob, 1, false), bAddr, aAddr, now);
    expect(E.isLeft(r) && r.left.code).toBe(CryptoErrorCode.UntrustedIdentity);
  });

  it("computes the same safety number on both sides, and a different one for another key", () => {
    const a = safetyNumber("alpha/alice", alice.upload.identityKey, "beta/bob", bob.upload.identityKey);
    const b = safetyNumber("beta/bob", bob.upload.identityKey, "alpha/alice", alice.upload.identityKey);
    expect(a).toMatch(/^[0-9]{60}$/);
    expect(b).toBe(a);
    const other = safetyNumber("alpha/alice", alice.upload.identityKey, "beta/bob", IdentityKeyPair.generate().publicKey.serialize());
    expect(other).not.toBe(a);
  });

  it("encrypt without a session is a typed error", async () => {
    const scope = newScope(IdentityKeyPair.deserialize(Buffer.from(alice.identity)), alice.registrationId, null, null);
    const r = await encrypt(scope, new Uint8Array([1]), bAddr, aAddr, now);
    expect(E.isLeft(r) && r.left.code).toBe(CryptoErrorCode.NoSession);
  });
});
