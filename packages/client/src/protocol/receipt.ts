import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { DeviceAddressS, MessageIdS, UserIdS } from "./common.js";

export const ReceiptStatus = { Delivered: "delivered", Read: "read", Played: "played" } as const;
export type ReceiptStatus = (typeof ReceiptStatus)[keyof typeof ReceiptStatus];
const StatusS = s.oneOf([ReceiptStatus.Delivered, ReceiptStatus.Read, ReceiptStatus.Played] as const);

/** Hub-internal: delivery reports device acks (ilk.receipt.v1.acked.<recipient provider>). */
export const AckedRecordS = record("receipt.acked", 1, {
  acks: s.array(s.object({ id: MessageIdS, from: DeviceAddressS, by: DeviceAddressS, at: s.int({ min: 0 }) }), { min: 1, max: 256 }),
});
export type AckedRecord = Infer<typeof AckedRecordS>;

export const ReceiptS = s.object({ id: MessageIdS, status: StatusS, by: DeviceAddressS, at: s.int({ min: 0 }) });
export type Receipt = Infer<typeof ReceiptS>;

/** To the sender's provider (ilk.evt.receipt.v1.status.<sender provider>), batched per sender user. */
export const ReceiptEventS = record("receipt.status", 1, { user: UserIdS, receipts: s.array(ReceiptS, { min: 1, max: 256 }) });
export type ReceiptEvent = Infer<typeof ReceiptEventS>;

export const StatusRequestS = record("receipt.query", 1, { user: UserIdS, id: MessageIdS });
export type StatusRequest = Infer<typeof StatusRequestS>;
export const StatusResponseS = s.object({ receipts: s.array(ReceiptS, { max: 1024 }) });
export type StatusResponse = Infer<typeof StatusResponseS>;
