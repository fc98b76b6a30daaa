export type { ReceiptOptions, ReceiptService, ReceiptStats } from "./service.js";
export { RECEIPTS_BUCKET, startReceipt } from "./service.js";
