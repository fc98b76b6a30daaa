import { createHash } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import { ErrorCode, FastJs, FastKv, serviceError } from "@interlink/actor";
import type { DeviceAddress, LocalDevice } from "@interlink/client";
import type { PreKeySource } from "@interlink/crypto";
import type { ProviderId } from "@interlink/subjects";
import { opaqueToken } from "@interlink/subjects";
import type { Codec } from "@interlink/wire";
import { createCodec, decodeWith } from "@interlink/wire";
import type { DeviceSecrets } from "./records.js";
import { DeviceSecretsS } from "./records.js";
import type { Sealed } from "./sealed-kv.js";
import { SealedKv } from "./sealed-kv.js";

export const ratchetBucket = (provider: ProviderId): string => `ilk_ratchet_${provider.replace(/-/g, "_")}`;

/**
 * Everything private a provider's edge keeps: device secrets, one-time prekeys, sessions and the
 * identity keys it has seen. Entry names are keyed tokens, values sealed at rest.
 */
export class RatchetStore {
  readonly #kv: SealedKv;
  readonly #secret: Uint8Array;
  readonly #codec: Codec = createCodec();

  private constructor(kv: SealedKv, secret: Uint8Array) {
    this.#kv = kv;
    this.#secret = secret;
  }

  static async open(nc: NatsConnection, provider: ProviderId, secret: Uint8Array, atRestKey: Uint8Array, replicas: number): Promise<RatchetStore> {
    const bucket = ratchetBucket(provider);
    const kv = await new Kvm(nc).create(bucket, { replicas, history: 1, allow_direct: true });
    return new RatchetStore(new SealedKv(kv, new FastKv(new FastJs(nc), bucket), atRestKey), secret);
  }

  close(): void {
    this.#kv.close();
  }

  #dev(d: LocalDevice): string {
    return opaqueToken(this.#secret, "dev", d.user, d.device);
  }

  async getDevice(d: LocalDevice): Promise<Either<ServiceError, DeviceSecrets | null>> {
    const r = await this.#kv.get(`dev.${this.#dev(d)}`);
    if (E.isLeft(r) || r.right === null) return r as Either<ServiceError, null>;
    const v = decodeWith(this.#codec, DeviceSecretsS, r.right.bytes);
    return E.isLeft(v) ? E.left(serviceError(ErrorCode.Internal, "device record unreadable")) : E.right(v.right);
  }

  createDevice(s: DeviceSecrets): Promise<Either<ServiceError, number>> {
    return this.#kv.put(`dev.${this.#dev(s)}`, this.#codec.encode(s), 0);
  }

  /** The device record with its KV revision, for compare-and-swap updates (refill, rotation). */
  async getDeviceVersioned(d: LocalDevice): Promise<Either<ServiceError, { value: DeviceSecrets; revision: number } | null>> {
    const r = await this.#kv.get(`dev.${this.#dev(d)}`);
    if (E.isLeft(r) || r.right === null) return r as Either<ServiceError, null>;
    const v = decodeWith(this.#codec, DeviceSecretsS, r.right.bytes);
    return E.isLeft(v) ? E.left(serviceError(ErrorCode.Internal, "device record unreadable")) : E.right({ value: v.right, revision: r.right.revision });
  }

  updateDevice(s: DeviceSecrets, revision: number): Promise<Either<ServiceError, number>> {
    return this.#kv.put(`dev.${this.#dev(s)}`, this.#codec.encode(s), revision);
  }

  deleteDevice(d: LocalDevice): Promise<Either<ServiceError, void>> {
    return this.#kv.delete(`dev.${this.#dev(d)}`);
  }

  async listDevices(): Promise<Either<ServiceError, DeviceSecrets[]>> {
    const keys = await this.#kv.keys("dev.*");
    if (E.isLeft(keys)) return keys;
    const out: DeviceSecrets[] = [];
    for (const k of keys.right) {
      const r = await this.#kv.get(k);
      if (E.isLeft(r)) return r;
      if (r.right === null) continue;
      const v = decodeWith(this.#codec, DeviceSecretsS, r.right.bytes);
      if (E.isRight(v)) out.push(v.right);
    }
    return E.right(out);
  }

  async putPreKeys(d: LocalDevice, kind: "pk" | "kpk", records: readonly { id: number; record: Uint8Array }[]): Promise<Either<ServiceError, void>> {
    for (const r of records) {
      const w = await this.#kv.put(`${kind}.${this.#dev(d)}.${r.id}`, r.record, 0);
      if (E.isLeft(w)) return w;
    }
    return E.right(undefined);
  }

  #sessionName(local: LocalDevice, remote: DeviceAddress): string {
    return `s.${opaqueToken(this.#secret, "session", local.user, local.device, remote.provider, remote.user, remote.device)}`;
  }

  #identityName(local: LocalDevice, remote: DeviceAddress): string {
    return `i.${opaqueToken(this.#secret, "identity", local.user, local.device, remote.provider, remote.user)}`;
  }

  getSession(local: LocalDevice, remote: DeviceAddress): Promise<Either<ServiceError, Sealed | null>> {
    return this.#kv.get(this.#sessionName(local, remote));
  }
  putSession(local: LocalDevice, remote: DeviceAddress, record: Uint8Array, revision: number): Promise<Either<ServiceError, number>> {
    return this.#kv.put(this.#sessionName(local, remote), record, revision);
  }
  deleteSession(local: LocalDevice, remote: DeviceAddress): Promise<Either<ServiceError, void>> {
    return this.#kv.delete(this.#sessionName(local, remote));
  }
  getIdentity(local: LocalDevice, remote: DeviceAddress): Promise<Either<ServiceError, Sealed | null>> {
    return this.#kv.get(this.#identityName(local, remote));
  }
  putIdentity(local: LocalDevice, remote: DeviceAddress, key: Uint8Array, revision: number): Promise<Either<ServiceError, number>> {
    return this.#kv.put(this.#identityName(local, remote), key, revision);
  }

  /**
   * The device's private prekeys for one decryption. Removals and "used" marks are held back
   * until `commit`, so a decryption whose plaintext never reached the app can be run again.
   */
  preKeySource(dev: DeviceSecrets): { source: PreKeySource; commit: () => Promise<Either<ServiceError, void>>; failed: () => boolean } {
    const tok = this.#dev(dev);
    const removals: string[] = [];
    const fresh = async (): Promise<DeviceSecrets | null> => {
      const r = await this.getDevice(dev);
      return E.isRight(r) ? r.right : null;
    };
    const lastResortUses: string[] = [];
    let storeFailed = false;
    const read = async (name: string): Promise<Uint8Array | null> => {
      const r = await this.#kv.get(name);
      if (E.isLeft(r)) {
        storeFailed = true;
        throw new Error("prekey store unavailable");
      }
      return r.right?.bytes ?? null;
    };
    const source: PreKeySource = {
      getPreKey: (id) => read(`pk.${tok}.${id}`),
      removePreKey: async (id) => void removals.push(`pk.${tok}.${id}`),
      // A key rotated by another instance is not in this copy of the device record yet: read it.
      getSignedPreKey: async (id) => dev.signedPreKeys.find((k) => k.id === id)?.record ?? (await fresh())?.signedPreKeys.find((k) => k.id === id)?.record ?? null,
      getKyberPreKey: async (id) =>
        dev.kyberLastResort.find((k) => k.id === id)?.record ??
        (await read(`kpk.${tok}.${id}`)) ??
        (await fresh())?.kyberLastResort.find((k) => k.id === id)?.record ??
        null,
      markKyberPreKeyUsed: async (kyberId, signedPreKeyId, baseKey) => {
        const lastResort = dev.kyberLastResort.some((k) => k.id === kyberId) || ((await fresh())?.kyberLastResort.some((k) => k.id === kyberId) ?? false);
        if (lastResort) {
          const h = createHash("sha256").update(`${kyberId}.${signedPreKeyId}.`).update(baseKey).digest("base64url").slice(0, 22);
          const seen = await this.#kv.get(`lr.${tok}.${h}`);
          if (E.isRight(seen) && seen.right !== null) throw new Error("last-resort prekey reused with the same base key");
          lastResortUses.push(`lr.${tok}.${h}`);
        } else {
          removals.push(`kpk.${tok}.${kyberId}`);
        }
      },
    };
    const commit = async (): Promise<Either<ServiceError, void>> => {
      for (const name of lastResortUses) {
        const w = await this.#kv.put(name, new Uint8Array([1]), 0);
        if (E.isLeft(w)) return w;
      }
      for (const name of removals) {
        const d = await this.#kv.delete(name);
        if (E.isLeft(d)) return d;
      }
      return E.right(undefined);
    };
    return { source, commit, failed: () => storeFailed };
  }
}
