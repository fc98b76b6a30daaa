import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { DeviceIdS, UserIdS } from "@interlink/client";

const Stored = s.object({ id: s.int({ min: 0 }), record: s.bytes({ max: 16 * 1024 }) });

/** The private side of a hosted device. Lives only in the provider's own store, sealed. */
export const DeviceSecretsS = record("ratchet.device", 1, {
  user: UserIdS,
  device: DeviceIdS,
  registrationId: s.int({ min: 1, max: 16_380 }),
  identity: s.bytes({ max: 128 }),
  signedPreKeys: s.array(Stored, { min: 1, max: 8 }),
  kyberLastResort: s.array(Stored, { min: 1, max: 8 }),
  nextPreKeyId: s.int({ min: 1 }),
  nextKyberPreKeyId: s.int({ min: 1 }),
  createdAt: s.int({ min: 0 }),
});
export type DeviceSecrets = Infer<typeof DeviceSecretsS>;
