import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { DeviceIdS, ProviderIdS, UserIdS } from "./common.js";

/** Sizes of libsignal's serialized keys: EC public 33, Kyber-1024 public 1569, XEdDSA signature 64. */
const KeyId = s.int({ min: 0, max: 0xff_ffff });
const EcPub = s.bytes({ min: 33, max: 33 });
const KemPub = s.bytes({ min: 1569, max: 1569 });
const Sig = s.bytes({ min: 64, max: 64 });

export const MAX_PREKEYS_PER_UPLOAD = 100;

export const PublicPreKeyS = s.object({ id: KeyId, pub: EcPub });
export const SignedEcPreKeyS = s.object({ id: KeyId, pub: EcPub, sig: Sig });
export const SignedKemPreKeyS = s.object({ id: KeyId, pub: KemPub, sig: Sig });

export const UploadRequestS = record("keys.upload", 1, {
  user: UserIdS,
  device: DeviceIdS,
  registrationId: s.int({ min: 1, max: 16_380 }),
  identityKey: EcPub,
  signedPreKey: SignedEcPreKeyS,
  kyberLastResort: SignedKemPreKeyS,
  preKeys: s.array(PublicPreKeyS, { max: MAX_PREKEYS_PER_UPLOAD }),
  kyberPreKeys: s.array(SignedKemPreKeyS, { max: MAX_PREKEYS_PER_UPLOAD }),
});
export type UploadRequest = Infer<typeof UploadRequestS>;

export const KeyCountsS = s.object({ preKeys: s.int({ min: 0 }), kyberPreKeys: s.int({ min: 0 }) });
export type KeyCounts = Infer<typeof KeyCountsS>;

export const DevicesRequestS = record("keys.devices", 1, { provider: ProviderIdS, user: UserIdS });
export type DevicesRequest = Infer<typeof DevicesRequestS>;
export const DeviceInfoS = s.object({ device: DeviceIdS, registrationId: s.int({ min: 1, max: 16_380 }) });
export const DevicesResponseS = s.object({ devices: s.array(DeviceInfoS, { max: 127 }) });
export type DevicesResponse = Infer<typeof DevicesResponseS>;

export const ClaimRequestS = record("keys.claim", 1, {
  provider: ProviderIdS,
  user: UserIdS,
  /** Absent: every device of the user. */
  devices: s.optional(s.array(DeviceIdS, { max: 127 })),
});
export type ClaimRequest = Infer<typeof ClaimRequestS>;

export const ClaimedBundleS = s.object({
  deviceId: DeviceIdS,
  registrationId: s.int({ min: 1, max: 16_380 }),
  identityKey: EcPub,
  signedPreKey: SignedEcPreKeyS,
  preKey: s.optional(PublicPreKeyS),
  kyberPreKey: SignedKemPreKeyS,
});
export const ClaimResponseS = s.object({ bundles: s.array(ClaimedBundleS, { max: 127 }) });
export type ClaimResponse = Infer<typeof ClaimResponseS>;

export const KeyErrorCode = {
  BadKey: "bad_key",
  DuplicateKeyId: "duplicate_key_id",
  UnknownUser: "unknown_user",
} as const;
export type KeyErrorCode = (typeof KeyErrorCode)[keyof typeof KeyErrorCode];
