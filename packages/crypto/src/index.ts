export type { CryptoError } from "./errors.js";
export { CryptoErrorCode, cryptoError, fromLibsignal, isCryptoError } from "./errors.js";
export type { ClaimedBundle, DeviceUpload, PublicPreKey, SignedPublicPreKey, StoredRecord } from "./types.js";
export type { NewDevice } from "./keys.js";
export {
  ab,
  generateDevice,
  generateIdentity,
  generateKyberPreKeys,
  generatePreKeys,
  generateSignedPreKey,
  newRegistrationId,
  toPreKeyBundle,
  verifyUpload,
} from "./keys.js";
export type { Ciphertext, PreKeySource, SessionScope } from "./session.js";
export { MessageType, decrypt, encrypt, hasSession, newScope, protocolAddress, startSession } from "./session.js";
export type { EncryptedAttachment } from "./attachment.js";
export {
  ATTACHMENT_IV_BYTES,
  ATTACHMENT_KEY_BYTES,
  ATTACHMENT_MAC_BYTES,
  ATTACHMENT_MIN_CIPHERTEXT,
  AttachmentDecryptor,
  AttachmentEncryptor,
  attachmentCiphertextLength,
  attachmentMaxPlaintextLength,
  decryptAttachment,
  encryptAttachment,
} from "./attachment.js";
export { safetyNumber } from "./safety.js";
