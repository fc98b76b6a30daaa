import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError, Step, Versioned } from "@interlink/actor";
import { ErrorCode, serviceError } from "@interlink/actor";
import type { KeyCounts, UploadRequest } from "@interlink/client";
import { KeyErrorCode, MAX_PREKEYS_PER_UPLOAD } from "@interlink/client";
import type { SignedPublicPreKey } from "@interlink/crypto";
import type { BatchRef, DeviceKeys } from "./records.js";
import { MAX_POOL } from "./records.js";

// Pure decisions on a device's key entry. They run inside compare-and-swap loops, so they may run
// several times and must not do I/O.

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
const sameKey = (a: SignedPublicPreKey, b: SignedPublicPreKey): boolean => a.id === b.id && sameBytes(a.pub, b.pub) && sameBytes(a.sig, b.sig);

const duplicate = (what: string): ServiceError =>
  serviceError(KeyErrorCode.DuplicateKeyId, `${what} id is already in use for this device`);

export const countsOf = (k: DeviceKeys): KeyCounts => {
  let preKeys = 0;
  let kyberPreKeys = 0;
  for (const b of k.batches) {
    preKeys += b.ec.length;
    kyberPreKeys += b.kyber.length;
  }
  return { preKeys, kyberPreKeys };
};

const isLow = (c: KeyCounts, lowWater: number): boolean => c.preKeys < lowWater || c.kyberPreKeys < lowWater;

/**
 * Checks an upload on its own, before any signature is verified or anything is read: batch
 * sizes, ids repeated inside the upload, a one-time Kyber id equal to the last-resort id (the
 * device's Kyber store has one id space for both).
 */
export const checkUpload = (req: UploadRequest): Either<ServiceError, void> => {
  if (req.preKeys.length > MAX_PREKEYS_PER_UPLOAD || req.kyberPreKeys.length > MAX_PREKEYS_PER_UPLOAD) {
    return E.left(
      serviceError(KeyErrorCode.BatchTooLarge, `at most ${MAX_PREKEYS_PER_UPLOAD} one-time prekeys of each kind per upload`, {
        details: { max: MAX_PREKEYS_PER_UPLOAD },
      }),
    );
  }
  const repeats = (ids: readonly number[]): boolean => new Set(ids).size !== ids.length;
  if (repeats(req.preKeys.map((k) => k.id))) return E.left(duplicate("a one-time prekey"));
  const kyber = req.kyberPreKeys.map((k) => k.id);
  if (repeats(kyber) || kyber.includes(req.kyberLastResort.id)) return E.left(duplicate("a one-time Kyber prekey"));
  return E.right(undefined);
};

export interface Added {
  readonly counts: KeyCounts;
  /** Batches of a pool that a new identity key replaced: delete them once the write is in. */
  readonly garbage: readonly string[];
}

/**
 * Adds an upload to a device's entry. The same identity key continues the pool (a refill, maybe
 * with rotated signed keys); a new identity key means the device was re-registered and starts a
 * fresh pool, the old one becoming garbage.
 */
export const addUpload =
  (req: UploadRequest, batchId: string | null, now: number, lowWater: number) =>
  (cur: Versioned<DeviceKeys> | null): Either<ServiceError, Step<DeviceKeys, Added>> => {
    const same = cur !== null && sameBytes(cur.value.identityKey, req.identityKey);
    const base = same ? cur.value : null;
    const batches = base?.batches ?? [];
    if (base !== null) {
      // libsignal finds a prekey by id: one id must never name two different keys of a device.
      if (base.signedPreKey.id === req.signedPreKey.id && !sameKey(base.signedPreKey, req.signedPreKey)) {
        return E.left(duplicate("the signed prekey"));
      }
      if (base.kyberLastResort.id === req.kyberLastResort.id && !sameKey(base.kyberLastResort, req.kyberLastResort)) {
        return E.left(duplicate("the Kyber last-resort prekey"));
      }
    }
    const ec = new Set(batches.flatMap((b) => b.ec));
    const kyber = new Set(batches.flatMap((b) => b.kyber));
    if (req.preKeys.some((k) => ec.has(k.id))) return E.left(duplicate("a one-time prekey"));
    if (req.kyberPreKeys.some((k) => kyber.has(k.id) || k.id === base?.kyberLastResort.id)) return E.left(duplicate("a one-time Kyber prekey"));
    if (kyber.has(req.kyberLastResort.id)) return E.left(duplicate("the Kyber last-resort prekey"));
    if (ec.size + req.preKeys.length > MAX_POOL || kyber.size + req.kyberPreKeys.length > MAX_POOL) {
      return E.left(
        serviceError(KeyErrorCode.TooManyPreKeys, `a device may hold at most ${MAX_POOL} one-time prekeys of each kind`, {
          details: { max: MAX_POOL },
        }),
      );
    }
    const added: BatchRef[] =
      batchId === null ? [] : [{ id: batchId, ec: req.preKeys.map((k) => k.id), kyber: req.kyberPreKeys.map((k) => k.id) }];
    const next: DeviceKeys = {
      v: 1,
      registrationId: req.registrationId,
      identityKey: req.identityKey,
      signedPreKey: req.signedPreKey,
      kyberLastResort: req.kyberLastResort,
      batches: [...batches, ...added],
      updatedAt: now,
    };
    const counts = countsOf(next);
    // A refill that lifts the pool over the mark re-arms the low-water event.
    const low = base?.low === true && isLow(counts, lowWater);
    return E.right({
      write: low ? { ...next, low } : next,
      result: { counts, garbage: cur !== null && !same ? cur.value.batches.map((b) => b.id) : [] },
    });
  };

/** Replaces the signed prekey and/or the Kyber last-resort prekey; the identity key must be the one they were verified against. */
export const rotateKeys =
  (identityKey: Uint8Array, signedPreKey: SignedPublicPreKey | undefined, kyberLastResort: SignedPublicPreKey | undefined, now: number) =>
  (cur: Versioned<DeviceKeys> | null): Either<ServiceError, Step<DeviceKeys, KeyCounts>> => {
    if (cur === null) return E.left(serviceError(ErrorCode.NotFound, "no key bundle available for that address"));
    const k = cur.value;
    if (!sameBytes(k.identityKey, identityKey)) {
      return E.left(serviceError(ErrorCode.Conflict, "the device was re-registered meanwhile", { retryable: true }));
    }
    if (signedPreKey !== undefined && signedPreKey.id === k.signedPreKey.id && !sameKey(signedPreKey, k.signedPreKey)) {
      return E.left(duplicate("the signed prekey"));
    }
    if (kyberLastResort !== undefined) {
      if (kyberLastResort.id === k.kyberLastResort.id && !sameKey(kyberLastResort, k.kyberLastResort)) {
        return E.left(duplicate("the Kyber last-resort prekey"));
      }
      if (k.batches.some((b) => b.kyber.includes(kyberLastResort.id))) return E.left(duplicate("the Kyber last-resort prekey"));
    }
    const next: DeviceKeys = {
      ...k,
      signedPreKey: signedPreKey ?? k.signedPreKey,
      kyberLastResort: kyberLastResort ?? k.kyberLastResort,
      updatedAt: now,
    };
    return E.right({ write: next, result: countsOf(next) });
  };

export interface Popped {
  /** The entry after the claim; the caller writes it with compare-and-swap. */
  readonly next: DeviceKeys;
  readonly ec?: { readonly id: number; readonly batch: string };
  readonly kyber?: { readonly id: number; readonly batch: string };
  /** Batches this claim used up: delete them once the write is in. */
  readonly garbage: readonly string[];
  readonly counts: KeyCounts;
  /** This claim took the pool under the low-water mark (once per dip). */
  readonly low: boolean;
}

/**
 * Takes the oldest one-time EC key and the oldest one-time Kyber key. Null when there is none
 * of either: the claim is answered from the entry as it is (the last-resort Kyber key, no EC key).
 */
export const popKeys = (k: DeviceKeys, lowWater: number): Popped | null => {
  const ecAt = k.batches.findIndex((b) => b.ec.length > 0);
  const kyberAt = k.batches.findIndex((b) => b.kyber.length > 0);
  if (ecAt < 0 && kyberAt < 0) return null;
  const garbage: string[] = [];
  const batches: BatchRef[] = [];
  k.batches.forEach((b, i) => {
    const nb = { id: b.id, ec: i === ecAt ? b.ec.slice(1) : b.ec, kyber: i === kyberAt ? b.kyber.slice(1) : b.kyber };
    if (nb.ec.length === 0 && nb.kyber.length === 0) garbage.push(b.id);
    else batches.push(nb);
  });
  const next: DeviceKeys = { ...k, batches };
  const counts = countsOf(next);
  const low = k.low !== true && isLow(counts, lowWater);
  return {
    next: low ? { ...next, low: true } : next,
    ...(ecAt >= 0 ? { ec: { id: k.batches[ecAt]!.ec[0]!, batch: k.batches[ecAt]!.id } } : {}),
    ...(kyberAt >= 0 ? { kyber: { id: k.batches[kyberAt]!.kyber[0]!, batch: k.batches[kyberAt]!.id } } : {}),
    garbage,
    counts,
    low,
  };
};
