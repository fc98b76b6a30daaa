import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { DeviceAddressS, MAX_DEVICE_CIPHERTEXT, MessageIdS } from "@interlink/client";

/** What sits in a device queue: ciphertext and routing data only. */
export const StoredMessageS = record("delivery.stored", 1, {
  id: MessageIdS,
  from: DeviceAddressS,
  sentAt: s.int({ min: 0 }),
  type: s.int({ min: 2, max: 3 }),
  body: s.bytes({ min: 1, max: MAX_DEVICE_CIPHERTEXT }),
});
export type StoredMessage = Infer<typeof StoredMessageS>;
