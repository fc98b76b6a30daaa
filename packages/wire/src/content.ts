import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import { defaultCodec } from "./codec.js";
import { wireError } from "./errors.js";
import { PADDING_BLOCK, pad, unpad } from "./padding.js";
import { decodeWith, record } from "./record.js";
import { s } from "./schema.js";
import { WireErrorCode } from "./types.js";
import type { AttachmentPointer, Codec, Content, ContentBody, Schema, WireError } from "./types.js";

const KIB = 1024;

export const MESSAGE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const messageId = s.str({ pattern: MESSAGE_ID_PATTERN });
/** In UTF-16 code units, as JS counts them. */
const MAX_TEXT = 64 * KIB;
const MAX_EMOJI = 64;
const MAX_RECEIPT_TARGETS = 100;
/** Media ids are minted by the media store; only their size is pinned here. */
const MAX_MEDIA_ID = 256;
const MAX_NAME = 255;

export const AttachmentPointerSchema: Schema<AttachmentPointer> = s.object({
  id: s.str({ min: 1, max: MAX_MEDIA_ID }),
  cap: s.bytes({ min: 16, max: 64 }),
  key: s.bytes({ min: 64, max: 64 }),
  digest: s.bytes({ min: 32, max: 32 }),
  size: s.int({ min: 0 }),
  mime: s.str({ min: 1, max: MAX_NAME }),
  fileName: s.optional(s.str({ max: MAX_NAME })),
  width: s.optional(s.int({ min: 0, max: 65_535 })),
  height: s.optional(s.int({ min: 0, max: 65_535 })),
  durationMs: s.optional(s.int({ min: 0 })),
  thumbnail: s.optional(s.bytes({ max: 64 * KIB })),
  waveform: s.optional(s.bytes({ max: KIB })),
});

export const ContentBodySchema: Schema<ContentBody> = s.union("t", {
  text: s.object({ text: s.str({ max: MAX_TEXT }), replyTo: s.optional(messageId) }),
  attachment: s.object({
    kind: s.oneOf(["image", "voice", "video", "file"] as const),
    media: AttachmentPointerSchema,
    caption: s.optional(s.str({ max: MAX_TEXT })),
    replyTo: s.optional(messageId),
  }),
  reaction: s.object({ target: messageId, emoji: s.str({ min: 1, max: MAX_EMOJI }), remove: s.optional(s.bool()) }),
  edit: s.object({ target: messageId, text: s.str({ max: MAX_TEXT }) }),
  delete: s.object({ target: messageId }),
  receipt: s.object({
    status: s.oneOf(["delivered", "read", "played"] as const),
    targets: s.array(messageId, { min: 1, max: MAX_RECEIPT_TARGETS }),
  }),
});

export const ContentSchema: Schema<Content> = record("Content", 1, {
  id: messageId,
  sentAt: s.int({ min: 0 }),
  body: ContentBodySchema,
  sentTo: s.optional(
    s.object({ provider: s.str({ pattern: /^[a-z0-9-]{2,32}$/ }), user: s.str({ pattern: /^[A-Za-z0-9_-]{1,64}$/ }) }),
  ),
});

/** Not validated here: building a Content that breaks its own schema is a caller bug. */
export const encodeContent = (c: Content, codec: Codec = defaultCodec): Uint8Array => pad(codec.encode(c));

export const decodeContent = (padded: Uint8Array, codec: Codec = defaultCodec): Either<WireError, Content> => {
  // Checked before unpadding so a huge all-zero buffer is not walked byte by byte.
  if (padded instanceof Uint8Array && padded.length > codec.limits.maxBytes + PADDING_BLOCK) {
    return E.left(wireError(WireErrorCode.TooLarge, `content: longer than ${codec.limits.maxBytes} bytes`));
  }
  const body = unpad(padded);
  return E.isLeft(body) ? body : decodeWith(codec, ContentSchema, body.right);
};
