import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { ProviderIdS } from "@interlink/client";

const Kind = s.oneOf(["image", "voice", "video", "file"] as const);

/** An upload in progress: chunks land in a staging stream; this counts them. */
export const UploadStateS = record("media.upload", 1, {
  provider: ProviderIdS,
  kind: Kind,
  size: s.int({ min: 1 }),
  digest: s.bytes({ min: 32, max: 32 }),
  chunkSize: s.int({ min: 1 }),
  received: s.int({ min: 0 }),
  bytes: s.int({ min: 0 }),
  createdAt: s.int({ min: 0 }),
});
export type UploadState = Infer<typeof UploadStateS>;

/** A committed blob: only its capability's hash is kept, so the store cannot hand it out. */
export const MediaRecordS = record("media.record", 1, {
  owner: ProviderIdS,
  kind: Kind,
  size: s.int({ min: 1 }),
  capHash: s.bytes({ min: 32, max: 32 }),
  createdAt: s.int({ min: 0 }),
});
export type MediaRecord = Infer<typeof MediaRecordS>;
