import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { DeviceAddressS, MAX_DEVICE_CIPHERTEXT, MessageIdS } from "@interlink/client";

/** What sits in a device queue: ciphertext and routing data only. */
export const StoredMessageS = record("delivery.stored", 1, {
  id: MessageIdS,
  from: DeviceAddressS,
  /**
   * The recipient device, so an expired message can be reported to its sender. Optional only
   * because messages queued before it existed lack it; every new message carries it.
   */
  to: s.optional(DeviceAddressS),
  sentAt: s.int({ min: 0 }),
  type: s.int({ min: 2, max: 3 }),
  body: s.bytes({ min: 1, max: MAX_DEVICE_CIPHERTEXT }),
});
export type StoredMessage = Infer<typeof StoredMessageS>;

/**
 * One per accepted (sender provider, sender user, message id), created with compare-and-swap
 * (revision 0) after the device copies are stored; kept as long as the copies can live.
 */
export const AcceptanceS = record("delivery.accepted", 1, {
  /** SHA-256 over recipient, sending device, sentAt and every device ciphertext. */
  digest: s.bytes({ min: 32, max: 32 }),
  stored: s.int({ min: 0 }),
  acceptedAt: s.int({ min: 0 }),
});
export type Acceptance = Infer<typeof AcceptanceS>;

/** The expiry sweeper's lease: one holder among the instances at a time. */
export const LeaseS = record("delivery.lease", 1, {
  holder: s.str({ min: 1, max: 64 }),
  until: s.int({ min: 0 }),
});
export type Lease = Infer<typeof LeaseS>;
