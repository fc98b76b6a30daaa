import { randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { CasStore } from "@interlink/actor";
import { opaqueToken } from "@interlink/subjects";
import type { DeviceKeys, DeviceList, KeyBatch } from "./records.js";
import { DeviceKeysS, DeviceListS, KeyBatchS } from "./records.js";

export const KEYS_BUCKET = "ilk_keys";
export const INTEREST_BUCKET = "ilk_keys_interest";

export interface KeyStore {
  readonly kv: KV;
  readonly interestKv: KV;
  readonly lists: CasStore<DeviceList>;
  readonly devices: CasStore<DeviceKeys>;
  readonly batches: CasStore<KeyBatch>;
  /** Stands for (provider, user) in every key: an HMAC under the deployment's secret. */
  userToken(provider: string, user: string): string;
  listKey(userToken: string): string;
  deviceKey(userToken: string, device: number): string;
  batchKey(userToken: string, device: number, batch: string): string;
}

export const newBatchId = (): string => randomBytes(12).toString("base64url");

/**
 * KV keys are subjects too, so user ids are replaced by keyed tokens. Both buckets are created
 * with the given replicas (1 on a single node, 3 in a cluster); an existing bucket keeps the
 * configuration it was created with.
 */
export const openKeyStore = async (
  nc: NatsConnection,
  secret: Uint8Array,
  opts: { replicas: number; interestTtlMs: number },
): Promise<KeyStore> => {
  const kvm = new Kvm(nc);
  const kv = await kvm.create(KEYS_BUCKET, { replicas: opts.replicas, history: 1 });
  // Interest entries expire with the bucket's max age (a 2.9-compatible stream setting; per-key
  // TTLs need 2.11).
  const interestKv = await kvm.create(INTEREST_BUCKET, { replicas: opts.replicas, history: 1, ttl: opts.interestTtlMs });
  return {
    kv,
    interestKv,
    lists: new CasStore(kv, DeviceListS),
    devices: new CasStore(kv, DeviceKeysS),
    batches: new CasStore(kv, KeyBatchS),
    userToken: (p, u) => opaqueToken(secret, "user", p, u),
    listKey: (t) => `dl.${t}`,
    deviceKey: (t, d) => `dk.${t}.${d}`,
    batchKey: (t, d, b) => `kb.${t}.${d}.${b}`,
  };
};
