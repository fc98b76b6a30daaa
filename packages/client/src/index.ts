export { InterlinkClient } from "./clients.js";
export type { AttachmentMeta } from "./attachments.js";
export { downloadAttachment, uploadAttachment } from "./attachments.js";
export * from "./protocol/common.js";
export * from "./protocol/keys.js";
export * from "./protocol/delivery.js";
export * from "./protocol/receipt.js";
export * from "./protocol/media.js";
export * from "./protocol/ratchet.js";
