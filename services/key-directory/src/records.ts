import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { DeviceIdS, PublicPreKeyS, SignedEcPreKeyS, SignedKemPreKeyS } from "@interlink/client";

/** Long-term public keys of one device, as stored in the user's device list. */
export const StoredDeviceS = s.object({
  device: DeviceIdS,
  registrationId: s.int({ min: 1, max: 16_380 }),
  identityKey: s.bytes({ min: 33, max: 33 }),
  signedPreKey: SignedEcPreKeyS,
  kyberLastResort: SignedKemPreKeyS,
  updatedAt: s.int({ min: 0 }),
});
export type StoredDevice = Infer<typeof StoredDeviceS>;

/** One KV entry per user: the device list changes rarely and is read on every send. */
export const UserDevicesS = record("keys.user", 1, { devices: s.array(StoredDeviceS, { max: 127 }) });
export type UserDevices = Infer<typeof UserDevicesS>;

/** One KV entry per device: the one-time keys a claim pops with compare-and-swap. */
export const PoolS = record("keys.pool", 1, {
  /** Identity key the pool belongs to: a re-registered device starts a new pool. */
  identityKey: s.bytes({ min: 33, max: 33 }),
  preKeys: s.array(PublicPreKeyS, { max: 1_000 }),
  kyberPreKeys: s.array(SignedKemPreKeyS, { max: 1_000 }),
});
export type Pool = Infer<typeof PoolS>;
