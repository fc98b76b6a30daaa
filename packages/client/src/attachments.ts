import type { ServiceError } from "@interlink/actor";
import { ErrorCode, serviceError } from "@interlink/actor";
import { decryptAttachment, encryptAttachment } from "@interlink/crypto";
import type { AttachmentKind, AttachmentPointer } from "@interlink/wire";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { InterlinkClient } from "./clients.js";

export interface AttachmentMeta {
  readonly mime: string;
  readonly fileName?: string;
  readonly width?: number;
  readonly height?: number;
  readonly durationMs?: number;
  readonly thumbnail?: Uint8Array;
  readonly waveform?: Uint8Array;
}

/**
 * Encrypts at the edge with a fresh key, uploads the ciphertext in chunks and returns the pointer
 * that goes inside the end-to-end-encrypted message. media-store only ever sees ciphertext.
 */
export const uploadAttachment = async (
  client: InterlinkClient,
  kind: AttachmentKind,
  plaintext: Uint8Array,
  meta: AttachmentMeta,
): Promise<Either<ServiceError, AttachmentPointer>> => {
  const enc = encryptAttachment(plaintext);
  const begun = await client.media.begin({ kind, size: enc.ciphertext.length, digest: enc.digest });
  if (E.isLeft(begun)) return begun;
  const { uploadId, chunkSize } = begun.right;
  // Resume: the service says how many chunks it already holds for this upload.
  for (let index = begun.right.received, off = index * chunkSize; off < enc.ciphertext.length; index++, off += chunkSize) {
    const r = await client.media.chunk({ uploadId, index, data: enc.ciphertext.subarray(off, off + chunkSize) });
    if (E.isLeft(r)) return r;
  }
  const done = await client.media.commit(uploadId);
  if (E.isLeft(done)) return done;
  return E.right({
    id: done.right.mediaId,
    cap: done.right.cap,
    key: enc.key,
    digest: enc.digest,
    size: plaintext.length,
    ...meta,
  });
};

/** Downloads every chunk, checks the digest and MAC, and decrypts. */
export const downloadAttachment = async (
  client: InterlinkClient,
  p: AttachmentPointer,
): Promise<Either<ServiceError, Uint8Array>> => {
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (;;) {
    const r = await client.media.download({ mediaId: p.id, cap: p.cap, offset });
    if (E.isLeft(r)) return r;
    parts.push(r.right.data);
    offset += r.right.data.length;
    if (r.right.eof) break;
    if (r.right.data.length === 0) return E.left(serviceError(ErrorCode.Internal, "download made no progress"));
  }
  const plain = decryptAttachment(Buffer.concat(parts), p.key, p.digest);
  if (E.isLeft(plain)) return E.left(serviceError(plain.left.code, plain.left.message));
  if (plain.right.length !== p.size) return E.left(serviceError("size_mismatch", "attachment size differs from the pointer"));
  return E.right(plain.right);
};
