import type { DeviceUpload } from "@interlink/crypto";
import { generateIdentity, generateKyberPreKeys, generatePreKeys, generateSignedPreKey, newRegistrationId } from "@interlink/crypto";

/**
 * Public keys for load tests (`interlink bench keys`): one identity's signed prekey, last-resort
 * key and one batch of one-time keys, repeated `batches` times under fresh ids. Every signature
 * verifies, so uploads pass the service's checks; the key material is shared between devices
 * and batches (nothing here can open a session), which keeps generation out of the measurement.
 */
export const syntheticUploads = (batches: number, perBatch = 100, now = Date.now()): DeviceUpload[] => {
  const identity = generateIdentity();
  const signedPreKey = generateSignedPreKey(identity, 1, now).pub;
  const kyberLastResort = generateKyberPreKeys(identity, 1, 1, now).pub[0]!;
  const ec = generatePreKeys(1, perBatch).pub;
  const kyber = generateKyberPreKeys(identity, 2, perBatch, now).pub;
  const registrationId = newRegistrationId();
  return Array.from({ length: batches }, (_, b) => ({
    registrationId,
    identityKey: identity.publicKey.serialize(),
    signedPreKey,
    kyberLastResort,
    preKeys: ec.map((k, i) => ({ id: b * perBatch + i + 1, pub: k.pub })),
    kyberPreKeys: kyber.map((k, i) => ({ id: b * perBatch + i + 2, pub: k.pub, sig: k.sig })),
  }));
};
