import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";

export const MediaKind = { Image: "image", Voice: "voice", Video: "video", File: "file" } as const;
export type MediaKind = (typeof MediaKind)[keyof typeof MediaKind];
const KindS = s.oneOf([MediaKind.Image, MediaKind.Voice, MediaKind.Video, MediaKind.File] as const);

/** Chunks stay well under NATS's default 1 MiB max_payload with room for framing. */
export const MEDIA_CHUNK_BYTES = 256 * 1024;
const Id = s.str({ min: 16, max: 64, pattern: /^[A-Za-z0-9_-]+$/ });
const Cap = s.bytes({ min: 16, max: 64 });

export const BeginUploadS = record("media.begin", 1, {
  kind: KindS,
  size: s.int({ min: 1 }),
  digest: s.bytes({ min: 32, max: 32 }),
});
export type BeginUpload = Infer<typeof BeginUploadS>;
export const BeginUploadResponseS = s.object({ uploadId: Id, chunkSize: s.int({ min: 1 }), received: s.int({ min: 0 }) });
export type BeginUploadResponse = Infer<typeof BeginUploadResponseS>;

export const UploadChunkS = record("media.chunk", 1, {
  uploadId: Id,
  index: s.int({ min: 0, max: 1_000_000 }),
  data: s.bytes({ min: 1, max: MEDIA_CHUNK_BYTES }),
});
export type UploadChunk = Infer<typeof UploadChunkS>;
export const UploadChunkResponseS = s.object({ received: s.int({ min: 0 }) });

export const CommitUploadS = record("media.commit", 1, { uploadId: Id });
export const CommitUploadResponseS = s.object({ mediaId: Id, cap: Cap, size: s.int({ min: 1 }) });
export type CommitUploadResponse = Infer<typeof CommitUploadResponseS>;

export const DownloadS = record("media.download", 1, {
  mediaId: Id,
  cap: Cap,
  offset: s.int({ min: 0 }),
  length: s.optional(s.int({ min: 1, max: MEDIA_CHUNK_BYTES })),
});
export type Download = Infer<typeof DownloadS>;
export const DownloadResponseS = s.object({ data: s.bytes({ max: MEDIA_CHUNK_BYTES }), size: s.int({ min: 0 }), eof: s.bool() });
export type DownloadResponse = Infer<typeof DownloadResponseS>;

export const MediaErrorCode = {
  UnknownMedia: "unknown_media",
  UnknownUpload: "unknown_upload",
  DigestMismatch: "digest_mismatch",
  SizeMismatch: "size_mismatch",
  OutOfOrder: "out_of_order",
  TooLarge: "too_large",
} as const;
