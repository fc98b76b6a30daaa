export { WireErrorCode } from "./types.js";
export type {
  AttachmentKind,
  AttachmentPointer,
  Codec,
  CodecLimits,
  Content,
  ContentBody,
  ErrorRecord,
  Infer,
  ObjectOf,
  OptionalKeys,
  ReceiptStatus,
  Reply,
  Schema,
  UnionOf,
  WireError,
} from "./types.js";
export { isWireError, wireError } from "./errors.js";
export { defaultLimits } from "./limits.js";
export { createCodec, defaultCodec } from "./codec.js";
export { s } from "./schema.js";
export { decodeWith, record } from "./record.js";
export type { RecordOf } from "./record.js";
export { ERROR_CODE_PATTERN, ErrorRecordSchema, ReplySchema, errReply, okReply, wireErrorToRecord } from "./reply.js";
export { PADDING_BLOCK } from "./padding.js";
export { AttachmentPointerSchema, ContentBodySchema, ContentSchema, MESSAGE_ID_PATTERN, decodeContent, encodeContent } from "./content.js";
