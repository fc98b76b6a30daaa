/** Public prekey material as it travels to key-directory and back in a claimed bundle. */
export interface PublicPreKey {
  readonly id: number;
  readonly pub: Uint8Array;
}
export interface SignedPublicPreKey extends PublicPreKey {
  readonly sig: Uint8Array;
}

/** Everything key-directory needs for a device; no private part. */
export interface DeviceUpload {
  readonly registrationId: number;
  readonly identityKey: Uint8Array;
  readonly signedPreKey: SignedPublicPreKey;
  readonly kyberLastResort: SignedPublicPreKey;
  readonly preKeys: PublicPreKey[];
  readonly kyberPreKeys: SignedPublicPreKey[];
}

/** What a claim hands out for one device: the one-time keys are absent when the pool ran dry. */
export interface ClaimedBundle {
  readonly deviceId: number;
  readonly registrationId: number;
  readonly identityKey: Uint8Array;
  readonly signedPreKey: SignedPublicPreKey;
  readonly preKey?: PublicPreKey;
  /** A one-time Kyber prekey, or the last-resort one. */
  readonly kyberPreKey: SignedPublicPreKey;
}

/** A private record kept by the device's edge (serialized libsignal record bytes). */
export interface StoredRecord {
  readonly id: number;
  readonly record: Uint8Array;
}
