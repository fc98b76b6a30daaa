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
/**
 * `cap` goes into the end-to-end-encrypted pointer (whoever holds it may download);
 * `deleteToken` stays with the uploader (with it, and only from the uploading provider, the blob
 * can be deleted before it expires). The store keeps only the SHA-256 of each.
 */
export const CommitUploadResponseS = s.object({ mediaId: Id, cap: Cap, size: s.int({ min: 1 }), deleteToken: Cap });
export type CommitUploadResponse = Infer<typeof CommitUploadResponseS>;

export const DeleteMediaS = record("media.delete", 1, { mediaId: Id, token: Cap });
export type DeleteMedia = Infer<typeof DeleteMediaS>;
export const DeleteMediaResponseS = s.object({ deleted: s.bool() });
export type DeleteMediaResponse = Infer<typeof DeleteMediaResponseS>;

export const DownloadS = record("media.download", 1, {
  mediaId: Id,
  cap: Cap,
  offset: s.int({ min: 0 }),
  length: s.optional(s.int({ min: 1, max: MEDIA_CHUNK_BYTES })),
});
export type Download = Infer<typeof DownloadS>;
export const DownloadResponseS = s.object({ data: s.bytes({ max: MEDIA_CHUNK_BYTES }), size: s.int({ min: 0 }), eof: s.bool() });
export type DownloadResponse = Infer<typeof DownloadResponseS>;

/**
 * Typed errors of media-store (besides the common ones: `bad_request` for malformed input or an
 * offset past the end, `unavailable` when JetStream is down, `overloaded`).
 * - `unknown_media`: no such media id, wrong capability or delete token, deleted, or expired (alike, so ids cannot be probed)
 * - `unknown_upload`: no such upload in progress for this provider (never begun, committed, aborted or past its upload TTL)
 * - `digest_mismatch`: the uploaded bytes do not hash to the declared digest; the upload is discarded
 * - `size_mismatch`: a chunk does not fit the declared size, or commit before every byte arrived (`details.received`)
 * - `out_of_order`: a chunk ahead of the next expected one (`details.expected`)
 * - `too_large`: the declared size is over the limit for its kind (`details.limit`)
 */
export const MediaErrorCode = {
  UnknownMedia: "unknown_media",
  UnknownUpload: "unknown_upload",
  DigestMismatch: "digest_mismatch",
  SizeMismatch: "size_mismatch",
  OutOfOrder: "out_of_order",
  TooLarge: "too_large",
} as const;
