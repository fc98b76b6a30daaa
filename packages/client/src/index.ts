export { InterlinkClient } from "./clients.js";
export { ProviderApp } from "./app.js";
export type { AttachmentMeta, TransferOptions, UploadedAttachment } from "./attachments.js";
export {
  AttachmentDecryptor,
  AttachmentEncryptor,
  decryptAttachment,
  deleteAttachment,
  downloadAttachment,
  downloadCiphertext,
  encryptAttachment,
  uploadAttachment,
  uploadAttachmentWithToken,
  uploadCiphertext,
} from "./attachments.js";
export * from "./protocol/common.js";
export * from "./protocol/keys.js";
export * from "./protocol/delivery.js";
export * from "./protocol/receipt.js";
export * from "./protocol/media.js";
export * from "./protocol/ratchet.js";
