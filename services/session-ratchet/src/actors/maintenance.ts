import { KyberPreKeyRecord, IdentityKeyPair, SignedPreKeyRecord } from "@signalapp/libsignal-client";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { Logger, ServiceError } from "@interlink/actor";
import { ActorSystem, ErrorCode, serviceError } from "@interlink/actor";
import type { InterlinkClient, LocalDevice } from "@interlink/client";
import { ab, generateKyberPreKeys, generatePreKeys, generateSignedPreKey } from "@interlink/crypto";
import type { DeviceSecrets } from "../records.js";
import type { RatchetStore } from "../store.js";

export interface MaintenanceOptions {
  /** One-time keys of each kind uploaded per refill. */
  readonly refillBatch: number;
  /** A signed prekey (and Kyber last-resort key) older than this is replaced. */
  readonly rotateAfterMs: number;
  /** Replaced keys kept so sessions started with them still open their first message. */
  readonly keepPrevious: number;
}

const publicSigned = (record: Uint8Array) => {
  const r = SignedPreKeyRecord.deserialize(ab(record));
  return { id: r.id(), pub: r.publicKey().serialize(), sig: r.signature() };
};
const publicKyber = (record: Uint8Array) => {
  const r = KyberPreKeyRecord.deserialize(ab(record));
  return { id: r.id(), pub: r.publicKey().serialize(), sig: r.signature() };
};
const newest = <T extends { id: number }>(xs: readonly T[]): T => xs.reduce((a, b) => (b.id > a.id ? b : a));

/**
 * Keeps hosted devices' keys fresh: refills one-time prekeys when key-directory says a device
 * ran low, and rotates the signed prekey and Kyber last-resort key on a schedule. One device at a
 * time in this process (an actor per device); the device record is written with CAS, so two
 * instances never hand out overlapping key ids.
 */
export class KeyMaintenance {
  readonly #actors = new ActorSystem<never>({ capacity: 4, idleMs: 60_000 });

  constructor(
    private readonly store: RatchetStore,
    private readonly client: InterlinkClient,
    private readonly o: MaintenanceOptions,
    private readonly now: () => number,
    private readonly log: Logger,
    /** Told of the new device record, so caches of it move on. */
    private readonly updated: (d: DeviceSecrets) => void,
  ) {}

  refill(d: LocalDevice): Promise<Either<ServiceError, number>> {
    return this.#actors.ask(`${d.user}/${d.device}`, () => this.#refill(d));
  }

  rotateIfDue(d: LocalDevice): Promise<Either<ServiceError, boolean>> {
    return this.#actors.ask(`${d.user}/${d.device}`, () => this.#rotateIfDue(d));
  }

  async #refill(d: LocalDevice): Promise<Either<ServiceError, number>> {
    const cur = await this.store.getDeviceVersioned(d);
    if (E.isLeft(cur)) return cur;
    if (cur.right === null) return E.left(serviceError(ErrorCode.NotFound, "device is not hosted here"));
    const dev = cur.right.value;
    const n = this.o.refillBatch;
    const identity = IdentityKeyPair.deserialize(ab(dev.identity));
    const pre = generatePreKeys(dev.nextPreKeyId, n);
    const kyber = generateKyberPreKeys(identity, dev.nextKyberPreKeyId, n, this.now());
    // Claim the id range first: a lost race means another instance refilled; stop there.
    const next: DeviceSecrets = { ...dev, nextPreKeyId: dev.nextPreKeyId + n, nextKyberPreKeyId: dev.nextKyberPreKeyId + n };
    const claimed = await this.store.updateDevice(next, cur.right.revision);
    if (E.isLeft(claimed)) return claimed.left.code === ErrorCode.Conflict ? E.right(0) : claimed;
    this.updated(next);
    for (const w of [await this.store.putPreKeys(d, "pk", pre.records), await this.store.putPreKeys(d, "kpk", kyber.records)]) {
      if (E.isLeft(w)) return w;
    }
    const up = await this.client.keys.upload({
      user: dev.user,
      device: dev.device,
      registrationId: dev.registrationId,
      identityKey: identity.publicKey.serialize(),
      signedPreKey: publicSigned(newest(dev.signedPreKeys).record),
      kyberLastResort: publicKyber(newest(dev.kyberLastResort).record),
      preKeys: pre.pub,
      kyberPreKeys: kyber.pub,
    });
    if (E.isLeft(up)) return up;
    this.log.info("one-time prekeys refilled", { count: n });
    return E.right(n);
  }

  async #rotateIfDue(d: LocalDevice): Promise<Either<ServiceError, boolean>> {
    const cur = await this.store.getDeviceVersioned(d);
    if (E.isLeft(cur)) return cur;
    if (cur.right === null) return E.right(false);
    const dev = cur.right.value;
    const spk = SignedPreKeyRecord.deserialize(ab(newest(dev.signedPreKeys).record));
    if (this.now() - spk.timestamp() < this.o.rotateAfterMs) return E.right(false);
    const identity = IdentityKeyPair.deserialize(ab(dev.identity));
    const now = this.now();
    const nextSpk = generateSignedPreKey(identity, newest(dev.signedPreKeys).id + 1, now);
    // Last-resort ids share the Kyber id space with one-time keys: take the next free one.
    const lastResort = generateKyberPreKeys(identity, dev.nextKyberPreKeyId, 1, now);
    const keep = this.o.keepPrevious + 1;
    const next: DeviceSecrets = {
      ...dev,
      signedPreKeys: [...dev.signedPreKeys, nextSpk.record].slice(-keep),
      kyberLastResort: [...dev.kyberLastResort, lastResort.records[0]!].slice(-keep),
      nextKyberPreKeyId: dev.nextKyberPreKeyId + 1,
    };
    const w = await this.store.updateDevice(next, cur.right.revision);
    if (E.isLeft(w)) return w.left.code === ErrorCode.Conflict ? E.right(false) : w;
    this.updated(next);
    const r = await this.client.keys.rotate({ user: dev.user, device: dev.device, signedPreKey: nextSpk.pub, kyberLastResort: lastResort.pub[0]! });
    if (E.isLeft(r)) return r;
    this.log.info("signed prekey rotated", {});
    return E.right(true);
  }

  close(): Promise<void> {
    return this.#actors.close();
  }
}
