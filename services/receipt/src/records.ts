import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { ReceiptS } from "@interlink/client";

/** Per sent message: the status reported by each recipient device. */
export const MessageStatusS = record("receipt.message", 1, { receipts: s.array(ReceiptS, { max: 1024 }) });
export type MessageStatus = Infer<typeof MessageStatusS>;
