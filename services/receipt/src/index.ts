export type { ReceiptOptions } from "./service.js";
export { RECEIPTS_BUCKET, startReceipt } from "./service.js";
