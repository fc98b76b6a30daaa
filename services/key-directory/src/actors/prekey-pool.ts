import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError, Step, Versioned } from "@interlink/actor";
import { serviceError } from "@interlink/actor";
import type { PublicPreKey, SignedPublicPreKey } from "@interlink/crypto";
import { KeyErrorCode } from "@interlink/client";
import type { Pool } from "../records.js";

/** Most one-time keys of each kind a device may hold at once. */
export const MAX_POOL = 1_000;

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/**
 * Adds uploaded one-time keys. A new identity key means the device was re-registered: the old
 * pool belongs to keys that no longer exist and is replaced.
 */
export const addKeys =
  (identityKey: Uint8Array, preKeys: readonly PublicPreKey[], kyberPreKeys: readonly SignedPublicPreKey[]) =>
  (cur: Versioned<Pool> | null): Either<ServiceError, Step<Pool, { preKeys: number; kyberPreKeys: number }>> => {
    const base: Pool =
      cur !== null && sameBytes(cur.value.identityKey, identityKey)
        ? cur.value
        : { v: 1, identityKey, preKeys: [], kyberPreKeys: [] };
    const dup = (have: readonly { id: number }[], add: readonly { id: number }[]): boolean => {
      const ids = new Set(have.map((k) => k.id));
      for (const k of add) {
        if (ids.has(k.id)) return true;
        ids.add(k.id);
      }
      return false;
    };
    if (dup(base.preKeys, preKeys) || dup(base.kyberPreKeys, kyberPreKeys)) {
      return E.left(serviceError(KeyErrorCode.DuplicateKeyId, "a one-time prekey id is already in use for this device"));
    }
    const next: Pool = {
      v: 1,
      identityKey,
      preKeys: [...base.preKeys, ...preKeys],
      kyberPreKeys: [...base.kyberPreKeys, ...kyberPreKeys],
    };
    if (next.preKeys.length > MAX_POOL || next.kyberPreKeys.length > MAX_POOL) {
      return E.left(serviceError("too_many_prekeys", `a device may hold at most ${MAX_POOL} one-time prekeys of each kind`));
    }
    return E.right({ write: next, result: { preKeys: next.preKeys.length, kyberPreKeys: next.kyberPreKeys.length } });
  };

export interface Taken {
  readonly preKey?: PublicPreKey;
  readonly kyberPreKey?: SignedPublicPreKey;
}

/**
 * Pops one EC and one Kyber one-time key. Run under compare-and-swap, so two claimers that read
 * the same pool cannot both win: the loser re-reads and takes the next key.
 */
export const takeKeys = (identityKey: Uint8Array) => (cur: Versioned<Pool> | null): Either<ServiceError, Step<Pool, Taken>> => {
  if (cur === null || !sameBytes(cur.value.identityKey, identityKey)) return E.right({ keep: true, result: {} });
  const [preKey, ...restPre] = cur.value.preKeys;
  const [kyberPreKey, ...restKyber] = cur.value.kyberPreKeys;
  if (preKey === undefined && kyberPreKey === undefined) return E.right({ keep: true, result: {} });
  return E.right({
    write: { ...cur.value, preKeys: restPre, kyberPreKeys: restKyber },
    result: { ...(preKey ? { preKey } : {}), ...(kyberPreKey ? { kyberPreKey } : {}) },
  });
};
