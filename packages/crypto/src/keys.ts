import {
  IdentityKeyPair,
  KEMKeyPair,
  KEMPublicKey,
  KyberPreKeyRecord,
  PreKeyBundle,
  PreKeyRecord,
  PrivateKey,
  PublicKey,
  SignedPreKeyRecord,
} from "@signalapp/libsignal-client";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import { randomInt } from "node:crypto";
import type { CryptoError } from "./errors.js";
import { CryptoErrorCode, cryptoError } from "./errors.js";
import type { ClaimedBundle, DeviceUpload, PublicPreKey, SignedPublicPreKey, StoredRecord } from "./types.js";

/** libsignal's APIs take ArrayBuffer-backed arrays; msgpack may hand out views of a larger buffer. */
export const ab = (u: Uint8Array): Uint8Array<ArrayBuffer> =>
  u.buffer instanceof ArrayBuffer ? (u as Uint8Array<ArrayBuffer>) : new Uint8Array(u);

/** Registration ids are 14-bit in Signal; 0 is reserved. */
export const newRegistrationId = (): number => randomInt(1, 16_380);

export const generateIdentity = (): IdentityKeyPair => IdentityKeyPair.generate();

export const generatePreKeys = (startId: number, count: number): { records: StoredRecord[]; pub: PublicPreKey[] } => {
  const records: StoredRecord[] = [];
  const pub: PublicPreKey[] = [];
  for (let i = 0; i < count; i++) {
    const id = startId + i;
    const priv = PrivateKey.generate();
    const pk = priv.getPublicKey();
    records.push({ id, record: PreKeyRecord.new(id, pk, priv).serialize() });
    pub.push({ id, pub: pk.serialize() });
  }
  return { records, pub };
};

export const generateKyberPreKeys = (
  identity: IdentityKeyPair,
  startId: number,
  count: number,
  now: number,
): { records: StoredRecord[]; pub: SignedPublicPreKey[] } => {
  const records: StoredRecord[] = [];
  const pub: SignedPublicPreKey[] = [];
  for (let i = 0; i < count; i++) {
    const id = startId + i;
    const kp = KEMKeyPair.generate();
    const kpub = kp.getPublicKey().serialize();
    const sig = identity.privateKey.sign(kpub);
    records.push({ id, record: KyberPreKeyRecord.new(id, now, kp, sig).serialize() });
    pub.push({ id, pub: kpub, sig });
  }
  return { records, pub };
};

export const generateSignedPreKey = (
  identity: IdentityKeyPair,
  id: number,
  now: number,
): { record: StoredRecord; pub: SignedPublicPreKey } => {
  const priv = PrivateKey.generate();
  const pk = priv.getPublicKey();
  const pkBytes = pk.serialize();
  const sig = identity.privateKey.sign(pkBytes);
  return { record: { id, record: SignedPreKeyRecord.new(id, now, pk, priv, sig).serialize() }, pub: { id, pub: pkBytes, sig } };
};

const parsePublicKey = (bytes: Uint8Array, what: string): Either<CryptoError, PublicKey> => {
  try {
    return E.right(PublicKey.deserialize(ab(bytes)));
  } catch {
    return E.left(cryptoError(CryptoErrorCode.InvalidKey, `${what} is not a valid public key`));
  }
};

const parseKemKey = (bytes: Uint8Array, what: string): Either<CryptoError, KEMPublicKey> => {
  try {
    return E.right(KEMPublicKey.deserialize(ab(bytes)));
  } catch {
    return E.left(cryptoError(CryptoErrorCode.InvalidKey, `${what} is not a valid Kyber public key`));
  }
};

const verified = (identity: PublicKey, key: Uint8Array, sig: Uint8Array, what: string): Either<CryptoError, void> => {
  let ok = false;
  try {
    ok = identity.verify(ab(key), ab(sig));
  } catch {
    ok = false;
  }
  return ok ? E.right(undefined) : E.left(cryptoError(CryptoErrorCode.BadSignature, `${what} signature does not verify`));
};

/**
 * Checks every key parses as the right type and every signature verifies against the identity
 * key, so a device cannot publish a bundle that would make senders' processPreKeyBundle throw.
 */
export const verifyUpload = (u: DeviceUpload): Either<CryptoError, void> => {
  const identity = parsePublicKey(u.identityKey, "identity key");
  if (E.isLeft(identity)) return identity;
  const id = identity.right;
  const checks: Array<() => Either<CryptoError, unknown>> = [
    () => parsePublicKey(u.signedPreKey.pub, "signed prekey"),
    () => verified(id, u.signedPreKey.pub, u.signedPreKey.sig, "signed prekey"),
    () => parseKemKey(u.kyberLastResort.pub, "Kyber last-resort prekey"),
    () => verified(id, u.kyberLastResort.pub, u.kyberLastResort.sig, "Kyber last-resort prekey"),
    ...u.preKeys.map((k) => () => parsePublicKey(k.pub, "one-time prekey")),
    ...u.kyberPreKeys.flatMap((k) => [
      () => parseKemKey(k.pub, "one-time Kyber prekey"),
      () => verified(id, k.pub, k.sig, "one-time Kyber prekey"),
    ]),
  ];
  for (const c of checks) {
    const r = c();
    if (E.isLeft(r)) return r;
  }
  return E.right(undefined);
};

export const toPreKeyBundle = (b: ClaimedBundle): Either<CryptoError, PreKeyBundle> => {
  try {
    return E.right(
      PreKeyBundle.new(
        b.registrationId,
        b.deviceId,
        b.preKey?.id ?? null,
        b.preKey ? PublicKey.deserialize(ab(b.preKey.pub)) : null,
        b.signedPreKey.id,
        PublicKey.deserialize(ab(b.signedPreKey.pub)),
        ab(b.signedPreKey.sig),
        PublicKey.deserialize(ab(b.identityKey)),
        b.kyberPreKey.id,
        KEMPublicKey.deserialize(ab(b.kyberPreKey.pub)),
        ab(b.kyberPreKey.sig),
      ),
    );
  } catch {
    return E.left(cryptoError(CryptoErrorCode.InvalidKey, "claimed bundle holds an invalid key"));
  }
};

export interface NewDevice {
  readonly registrationId: number;
  readonly identity: Uint8Array;
  readonly signedPreKey: StoredRecord;
  readonly kyberLastResort: StoredRecord;
  readonly preKeys: StoredRecord[];
  readonly kyberPreKeys: StoredRecord[];
  readonly upload: DeviceUpload;
}

/** Fresh keys for one device: ids start at 1; one-time ids continue from `count + 1` on refill. */
export const generateDevice = (opts: { preKeys: number; kyberPreKeys: number; now: number }): NewDevice => {
  const identity = generateIdentity();
  const registrationId = newRegistrationId();
  const spk = generateSignedPreKey(identity, 1, opts.now);
  const lastResort = generateKyberPreKeys(identity, 1, 1, opts.now);
  const pre = generatePreKeys(1, opts.preKeys);
  const kyber = generateKyberPreKeys(identity, 2, opts.kyberPreKeys, opts.now);
  return {
    registrationId,
    identity: identity.serialize(),
    signedPreKey: spk.record,
    kyberLastResort: lastResort.records[0]!,
    preKeys: pre.records,
    kyberPreKeys: kyber.records,
    upload: {
      registrationId,
      identityKey: identity.publicKey.serialize(),
      signedPreKey: spk.pub,
      kyberLastResort: lastResort.pub[0]!,
      preKeys: pre.pub,
      kyberPreKeys: kyber.pub,
    },
  };
};
