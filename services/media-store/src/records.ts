import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { ProviderIdS } from "@interlink/client";
import { MAX_MEDIA_CHUNKS } from "./limits.js";

const Kind = s.oneOf(["image", "voice", "video", "file"] as const);
const Id = s.str({ min: 16, max: 64, pattern: /^[A-Za-z0-9_-]+$/ });
/** Stream sequence of each stored chunk, in order, 8 bytes big-endian each (see layout.ts). */
const Seqs = s.bytes({ max: 8 * MAX_MEDIA_CHUNKS });

/**
 * An upload in progress. Its chunks are already in the Object Store's stream, under the chunk
 * subject of object id `uploadId`, but no object metadata points at them until commit.
 */
export const UploadStateS = record("media.upload", 2, {
  provider: ProviderIdS,
  kind: Kind,
  size: s.int({ min: 1 }),
  digest: s.bytes({ min: 32, max: 32 }),
  chunkSize: s.int({ min: 1 }),
  received: s.int({ min: 0 }),
  bytes: s.int({ min: 0 }),
  seqs: Seqs,
  /** The KV key that lets `begin` with the same declaration find this upload again. */
  resumeKey: s.str({ min: 1, max: 64 }),
  createdAt: s.int({ min: 0 }),
  updatedAt: s.int({ min: 0 }),
});
export type UploadState = Infer<typeof UploadStateS>;

/** `begin` with the same (provider, kind, size, digest) resumes this upload. */
export const ResumeRecordS = record("media.resume", 1, { uploadId: Id });
export type ResumeRecord = Infer<typeof ResumeRecordS>;

/**
 * A committed blob. Only the SHA-256 of its capability and of its delete token are kept, so the
 * store cannot hand either out. `seqs` makes any range read one or two direct gets.
 */
export const MediaRecordS = record("media.record", 2, {
  owner: ProviderIdS,
  kind: Kind,
  size: s.int({ min: 1 }),
  capHash: s.bytes({ min: 32, max: 32 }),
  deleteHash: s.bytes({ min: 32, max: 32 }),
  /** Object Store object id: chunks live under `$O.<bucket>.C.<nuid>`. */
  nuid: Id,
  chunkSize: s.int({ min: 1 }),
  seqs: Seqs,
  createdAt: s.int({ min: 0 }),
  expiresAt: s.int({ min: 0 }),
});
export type MediaRecord = Infer<typeof MediaRecordS>;
