import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { DeviceAddressS, MessageIdS, UserIdS } from "./common.js";

export const ReceiptStatus = { Delivered: "delivered", Read: "read", Played: "played" } as const;
export type ReceiptStatus = (typeof ReceiptStatus)[keyof typeof ReceiptStatus];
const StatusS = s.oneOf([ReceiptStatus.Delivered, ReceiptStatus.Read, ReceiptStatus.Played] as const);

/**
 * Hub-internal: delivery reports device acks on `ilk.receipt.v1.acked.hub` (HUB_PROVIDER); the
 * receipt service refuses this from any provider (`forbidden`), so no provider can report
 * "delivered" itself. `from` is the message's sender device, `by` the device that acked it.
 */
export const AckedRecordS = record("receipt.acked", 1, {
  acks: s.array(s.object({ id: MessageIdS, from: DeviceAddressS, by: DeviceAddressS, at: s.int({ min: 0 }) }), { min: 1, max: 256 }),
});
export type AckedRecord = Infer<typeof AckedRecordS>;

export const ReceiptS = s.object({ id: MessageIdS, status: StatusS, by: DeviceAddressS, at: s.int({ min: 0 }) });
export type Receipt = Infer<typeof ReceiptS>;

/**
 * Optional fast path, at most once (core NATS): each batch is also published to the sender's
 * provider on ilk.evt.receipt.v1.status.<sender provider>. The durable path is the receipt
 * message delivery queues for every device of the sender (QueuedReceipts); session-ratchet
 * uses only that one.
 */
export const ReceiptEventS = record("receipt.status", 1, { user: UserIdS, receipts: s.array(ReceiptS, { min: 1, max: 256 }) });
export type ReceiptEvent = Infer<typeof ReceiptEventS>;

/** The sender's provider asks which devices acked one of its user's messages (delivered only: read and played never reach the hub). */
export const StatusRequestS = record("receipt.query", 1, { user: UserIdS, id: MessageIdS });
export type StatusRequest = Infer<typeof StatusRequestS>;
export const StatusResponseS = s.object({ receipts: s.array(ReceiptS, { max: 1024 }) });
export type StatusResponse = Infer<typeof StatusResponseS>;
