import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { CasStore } from "@interlink/actor";
import { opaqueToken } from "@interlink/subjects";
import type { Pool, UserDevices } from "./records.js";
import { PoolS, UserDevicesS } from "./records.js";

export const KEYS_BUCKET = "ilk_keys";

export interface KeyStore {
  readonly users: CasStore<UserDevices>;
  readonly pools: CasStore<Pool>;
  userKey(provider: string, user: string): string;
  poolKey(provider: string, user: string, device: number): string;
}

/** KV keys are subjects too, so user ids are replaced by keyed tokens. */
export const openKeyStore = async (nc: NatsConnection, secret: Uint8Array, replicas: number): Promise<KeyStore> => {
  const kv = await new Kvm(nc).create(KEYS_BUCKET, { replicas, history: 1 });
  return {
    users: new CasStore(kv, UserDevicesS),
    pools: new CasStore(kv, PoolS),
    userKey: (p, u) => `u.${opaqueToken(secret, "user", p, u)}`,
    poolKey: (p, u, d) => `p.${opaqueToken(secret, "user", p, u)}.${d}`,
  };
};
