import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { DeviceIdS, ProviderIdS, UserIdS } from "./common.js";

/** Sizes of libsignal's serialized keys: EC public 33, Kyber-1024 public 1569, XEdDSA signature 64. */
const KeyId = s.int({ min: 0, max: 0xff_ffff });
const EcPub = s.bytes({ min: 33, max: 33 });
const KemPub = s.bytes({ min: 1569, max: 1569 });
const Sig = s.bytes({ min: 64, max: 64 });

/** One-time prekeys of each kind one upload may carry; more is refused with `batch_too_large`. */
export const MAX_PREKEYS_PER_UPLOAD = 100;
/**
 * Decoding bound of the upload arrays. Between MAX_PREKEYS_PER_UPLOAD and this the service
 * answers the typed `batch_too_large`; past it (or past the message size) the request is
 * refused while decoding (`bad_request` / `too_large`).
 */
export const MAX_PREKEYS_DECODED = 1_000;

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
  preKeys: s.array(PublicPreKeyS, { max: MAX_PREKEYS_DECODED }),
  kyberPreKeys: s.array(SignedKemPreKeyS, { max: MAX_PREKEYS_DECODED }),
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

/**
 * Replaces the signed EC prekey and/or the Kyber last-resort prekey of a registered device
 * (at least one). Both are verified against the device's stored identity key. Sessions started
 * from the previous keys keep working as long as the device keeps the previous private parts
 * (key-directory only ever serves the newest).
 */
export const RotateRequestS = record("keys.rotate", 1, {
  user: UserIdS,
  device: DeviceIdS,
  signedPreKey: s.optional(SignedEcPreKeyS),
  kyberLastResort: s.optional(SignedKemPreKeyS),
});
export type RotateRequest = Infer<typeof RotateRequestS>;

/** One device of one of the caller's own users. */
const ownDeviceRequest = (name: string) => record(name, 1, { user: UserIdS, device: DeviceIdS });
/** How many one-time keys a device has left; answered with KeyCounts. */
export const CountRequestS = ownDeviceRequest("keys.count");
export type CountRequest = Infer<typeof CountRequestS>;
/** Unregisters a device: its keys are deleted and it leaves the device list. Answered with the devices left. */
export const RemoveRequestS = ownDeviceRequest("keys.remove");
export type RemoveRequest = Infer<typeof RemoveRequestS>;

/**
 * `ilk.evt.keys.v1.devices.<provider>`: a device of `provider`'s `user` was added, removed, or
 * re-registered (`identity`: its identity key or registration id changed). Sent to the owner
 * provider and to providers that recently claimed bundles or looked up devices of that user,
 * so senders re-check their sessions. The user is named in the payload only.
 */
export const DeviceChangeS = s.oneOf(["added", "removed", "identity"] as const);
export type DeviceChange = Infer<typeof DeviceChangeS>;
export const DevicesEventS = record("keys.devices.event", 1, {
  provider: ProviderIdS,
  user: UserIdS,
  device: DeviceIdS,
  change: DeviceChangeS,
});
export type DevicesEvent = Infer<typeof DevicesEventS>;

/**
 * `ilk.evt.keys.v1.low.<owner provider>`: a claim took a device's one-time keys under the
 * service's low-water mark. Sent once per crossing; the device's edge uploads more.
 */
export const LowKeysEventS = record("keys.low.event", 1, {
  user: UserIdS,
  device: DeviceIdS,
  preKeys: s.int({ min: 0 }),
  kyberPreKeys: s.int({ min: 0 }),
});
export type LowKeysEvent = Infer<typeof LowKeysEventS>;

export const KeyErrorCode = {
  /** A key does not parse as its type, or a signature does not verify against the identity key. */
  BadKey: "bad_key",
  /** A prekey id is already used for this device (or twice in one upload) with other key material. */
  DuplicateKeyId: "duplicate_key_id",
  /** More than MAX_PREKEYS_PER_UPLOAD one-time keys of one kind in one upload; `details.max`. */
  BatchTooLarge: "batch_too_large",
  /** The device would hold more one-time keys of one kind than the service keeps; `details.max`. */
  TooManyPreKeys: "too_many_prekeys",
  UnknownUser: "unknown_user",
} as const;
export type KeyErrorCode = (typeof KeyErrorCode)[keyof typeof KeyErrorCode];
