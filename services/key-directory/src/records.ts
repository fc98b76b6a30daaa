import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { DeviceIdS, PublicPreKeyS, SignedEcPreKeyS, SignedKemPreKeyS } from "@interlink/client";

const KeyId = s.int({ min: 0, max: 0xff_ffff });
const RegistrationId = s.int({ min: 1, max: 16_380 });
const IdentityKey = s.bytes({ min: 33, max: 33 });

/** Most one-time keys of each kind a device may hold at once. */
export const MAX_POOL = 1_000;
/** Batch ids are random, so a batch entry is written once and never changes (safe to cache). */
export const BatchIdS = s.str({ min: 8, max: 32, pattern: /^[A-Za-z0-9_-]+$/ });

/**
 * `dl.<user token>`: the user's device list. Read by every `devices` lookup (every send), so it
 * carries only what that answer and the change events need.
 */
export const DeviceListS = record("keys.list", 1, {
  devices: s.array(
    s.object({ device: DeviceIdS, registrationId: RegistrationId, identityKey: IdentityKey, updatedAt: s.int({ min: 0 }) }),
    { max: 127 },
  ),
});
export type DeviceList = Infer<typeof DeviceListS>;
export type ListedDevice = DeviceList["devices"][number];

/** Ids still unclaimed in one uploaded batch, in upload order. */
export const BatchRefS = s.object({
  id: BatchIdS,
  ec: s.array(KeyId, { max: MAX_POOL }),
  kyber: s.array(KeyId, { max: MAX_POOL }),
});
export type BatchRef = Infer<typeof BatchRefS>;

/**
 * `dk.<user token>.<device>`: everything a claim needs for one device except the one-time key
 * material, so the entry that is compare-and-swapped on every claim stays a few KiB however
 * many Kyber keys (1.6 KiB each) are pooled.
 */
export const DeviceKeysS = record("keys.device", 1, {
  registrationId: RegistrationId,
  identityKey: IdentityKey,
  signedPreKey: SignedEcPreKeyS,
  kyberLastResort: SignedKemPreKeyS,
  batches: s.array(BatchRefS, { max: MAX_POOL }),
  /** A low-water event was sent for the current dip; cleared when an upload refills the pool. */
  low: s.optional(s.bool()),
  updatedAt: s.int({ min: 0 }),
});
export type DeviceKeys = Infer<typeof DeviceKeysS>;

/** `kb.<user token>.<device>.<batch id>`: the public one-time keys of one upload; written once, deleted when used up. */
export const KeyBatchS = record("keys.batch", 1, {
  ec: s.array(PublicPreKeyS, { max: MAX_POOL }),
  kyber: s.array(SignedKemPreKeyS, { max: MAX_POOL }),
});
export type KeyBatch = Infer<typeof KeyBatchS>;

/** `<user token>.<provider>` in the interest bucket: that provider recently claimed or looked up the user. */
export const InterestS = record("keys.interest", 1, { at: s.int({ min: 0 }) });
export type Interest = Infer<typeof InterestS>;
