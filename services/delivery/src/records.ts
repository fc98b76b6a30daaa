import { record, s } from "@interlink/wire";
import type { Infer, Schema } from "@interlink/wire";
import { DeviceAddressS, MAX_DEVICE_CIPHERTEXT, MAX_RECEIPTS_PER_MESSAGE, MessageIdS, ReceiptS } from "@interlink/client";

/** What sits in a device queue: ciphertext and routing data only. */
export const StoredSignalS = record("delivery.stored", 1, {
  /** Absent on every Signal message (and on all messages queued before kinds existed). */
  kind: s.optional(s.literal("signal")),
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
export type StoredSignal = Infer<typeof StoredSignalS>;

/**
 * A hub-originated receipt message (`notify`): delivered receipts for messages the queue's
 * owner sent. No sender, no ciphertext; acking one reports nothing to the receipt service.
 */
export const StoredReceiptsS = record("delivery.stored", 1, {
  kind: s.literal("receipts"),
  /** The batch id. */
  id: MessageIdS,
  /** The device whose queue holds it (the receipts' sender user, one of its devices). */
  to: DeviceAddressS,
  sentAt: s.int({ min: 0 }),
  receipts: s.array(ReceiptS, { min: 1, max: MAX_RECEIPTS_PER_MESSAGE }),
});
export type StoredReceipts = Infer<typeof StoredReceiptsS>;

export type StoredMessage = StoredSignal | StoredReceipts;

const kindOf = (u: unknown): unknown =>
  u instanceof Map ? u.get("kind") : typeof u === "object" && u !== null && Object.hasOwn(u, "kind") ? (u as { kind: unknown }).kind : undefined;

/** Either kind, told apart by `kind` (absent: Signal). */
export const StoredMessageS: Schema<StoredMessage> = s.custom<StoredMessage>("delivery.stored", (u, path) =>
  kindOf(u) === "receipts" ? StoredReceiptsS.decode(u, path) : StoredSignalS.decode(u, path),
);

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
