import type { ServiceError } from "@interlink/actor";
import { ErrorCode, serviceError } from "@interlink/actor";
import { AttachmentDecryptor, attachmentMaxPlaintextLength, encryptAttachment } from "@interlink/crypto";
import type { AttachmentKind, AttachmentPointer } from "@interlink/wire";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { InterlinkClient } from "./clients.js";
import type { CommitUploadResponse } from "./protocol/media.js";
import { MEDIA_CHUNK_BYTES, MediaErrorCode } from "./protocol/media.js";

type Res<T> = Promise<Either<ServiceError, T>>;

/** The cipher itself, for apps that encrypt or decrypt attachments outside these helpers. */
export { AttachmentDecryptor, AttachmentEncryptor, decryptAttachment, encryptAttachment } from "@interlink/crypto";

export interface AttachmentMeta {
  readonly mime: string;
  readonly fileName?: string;
  readonly width?: number;
  readonly height?: number;
  readonly durationMs?: number;
  readonly thumbnail?: Uint8Array;
  readonly waveform?: Uint8Array;
}

export interface TransferOptions {
  /** Chunk requests outstanding at once (flow control); default 4, at most 16. */
  readonly window?: number;
  /** Tries after a retryable error without progress before giving up; default 5. */
  readonly retries?: number;
}

export interface UploadedAttachment {
  /** Goes inside the end-to-end-encrypted message. */
  readonly pointer: AttachmentPointer;
  /** Stays with the uploader: `deleteAttachment(client, pointer.id, deleteToken)`. Never send it. */
  readonly deleteToken: Uint8Array;
}

const DEFAULT_WINDOW = 4;
const MAX_WINDOW = 16;
const windowOf = (o: TransferOptions): number => Math.max(1, Math.min(MAX_WINDOW, Math.floor(o.window ?? DEFAULT_WINDOW)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const backoff = (e: ServiceError, attempt: number): Promise<unknown> => sleep(e.retryAfterMs ?? Math.min(2_000, 50 * 2 ** attempt));
const sizeMismatch = () => serviceError(MediaErrorCode.SizeMismatch, "attachment size differs from the pointer");

/**
 * Uploads ciphertext in chunks with up to `window` chunks in flight, then commits. It resumes by
 * itself: after a retryable failure it calls `begin` again with the same declaration, which answers
 * the same upload and how many chunks the store already holds, and carries on from there. If
 * chunks land out of order (several media-store instances), it continues one chunk at a time.
 */
export const uploadCiphertext = async (
  client: InterlinkClient,
  kind: AttachmentKind,
  ciphertext: Uint8Array,
  digest: Uint8Array,
  opts: TransferOptions = {},
): Res<CommitUploadResponse> => {
  const retries = opts.retries ?? 5;
  let window = windowOf(opts);
  let failures = 0;
  let lastReceived = -1;
  for (;;) {
    const begun = await client.media.begin({ kind, size: ciphertext.length, digest });
    if (E.isLeft(begun)) {
      if (!begun.left.retryable || failures >= retries) return begun;
      await backoff(begun.left, failures++);
      continue;
    }
    const { uploadId, chunkSize } = begun.right;
    if (begun.right.received > lastReceived) {
      failures = 0;
      lastReceived = begun.right.received;
    }
    const total = Math.ceil(ciphertext.length / chunkSize);
    const inflight: Array<Promise<Either<ServiceError, { received: number }>>> = [];
    let next = begun.right.received;
    let failure: ServiceError | undefined;
    while (next < total || inflight.length > 0) {
      while (failure === undefined && next < total && inflight.length < window) {
        const index = next++;
        inflight.push(client.media.chunk({ uploadId, index, data: ciphertext.subarray(index * chunkSize, (index + 1) * chunkSize) }));
      }
      if (inflight.length === 0) break;
      const r = await inflight.shift()!;
      if (E.isLeft(r)) failure ??= r.left;
    }
    if (failure === undefined) {
      const done = await commitWithRetry(client, uploadId, retries);
      return done;
    }
    if (failure.code === MediaErrorCode.OutOfOrder) window = 1;
    else if (!failure.retryable) return E.left(failure);
    if (failures >= retries) return E.left(failure);
    await backoff(failure, failures++);
  }
};

/** A commit that failed before it ran is retried; a timeout is not (it may have committed). */
const commitWithRetry = async (client: InterlinkClient, uploadId: string, retries: number): Res<CommitUploadResponse> => {
  for (let attempt = 0; ; attempt++) {
    const r = await client.media.commit(uploadId);
    if (E.isRight(r) || !r.left.retryable || r.left.code === ErrorCode.Timeout || attempt >= retries) return r;
    await backoff(r.left, attempt);
  }
};

/**
 * Encrypts at the edge with a fresh key (Signal's attachment format), uploads the ciphertext and
 * returns the pointer for the end-to-end-encrypted message plus the uploader's delete token.
 * media-store only ever sees ciphertext. Memory: the plaintext plus one ciphertext buffer.
 */
export const uploadAttachmentWithToken = async (
  client: InterlinkClient,
  kind: AttachmentKind,
  plaintext: Uint8Array,
  meta: AttachmentMeta,
  opts: TransferOptions = {},
): Res<UploadedAttachment> => {
  const enc = encryptAttachment(plaintext);
  const done = await uploadCiphertext(client, kind, enc.ciphertext, enc.digest, opts);
  if (E.isLeft(done)) return done;
  return E.right({
    pointer: { id: done.right.mediaId, cap: done.right.cap, key: enc.key, digest: enc.digest, size: plaintext.length, ...meta },
    deleteToken: done.right.deleteToken,
  });
};

/** As `uploadAttachmentWithToken`, for callers that never delete early (media expires by itself). */
export const uploadAttachment = async (
  client: InterlinkClient,
  kind: AttachmentKind,
  plaintext: Uint8Array,
  meta: AttachmentMeta,
  opts: TransferOptions = {},
): Res<AttachmentPointer> => E.map((u: UploadedAttachment) => u.pointer)(await uploadAttachmentWithToken(client, kind, plaintext, meta, opts));

/** Deletes an attachment this provider uploaded, before it expires. */
export const deleteAttachment = async (client: InterlinkClient, mediaId: string, deleteToken: Uint8Array): Res<void> =>
  E.map(() => undefined)(await client.media.delete({ mediaId, token: deleteToken }));

/**
 * Downloads ciphertext from `offset` (default 0) to the end, in chunk-aligned ranges with up to
 * `window` requests in flight, handing each range to `onData` in order. A range that fails with a
 * retryable error is asked for again; `onData` may stop the transfer by returning an error. To
 * resume an interrupted download, call again with the offset reached.
 */
export const downloadCiphertext = async (
  client: InterlinkClient,
  mediaId: string,
  cap: Uint8Array,
  onData: (data: Uint8Array, offset: number, size: number) => ServiceError | void,
  opts: TransferOptions & { readonly offset?: number } = {},
): Res<{ size: number }> => {
  const retries = opts.retries ?? 5;
  const fetchRange = async (offset: number, length: number) => {
    for (let attempt = 0; ; attempt++) {
      const r = await client.media.download({ mediaId, cap, offset, length });
      if (E.isRight(r) || !r.left.retryable || attempt >= retries) return r;
      await backoff(r.left, attempt);
    }
  };
  let offset = opts.offset ?? 0;
  // The first range tells the size and aligns the rest to the store's chunks.
  const first = await fetchRange(offset, MEDIA_CHUNK_BYTES - (offset % MEDIA_CHUNK_BYTES));
  if (E.isLeft(first)) return first;
  const size = first.right.size;
  if (first.right.data.length > 0) {
    const stop = onData(first.right.data, offset, size);
    if (stop) return E.left(stop);
  }
  offset += first.right.data.length;
  if (first.right.eof) return E.right({ size });
  if (first.right.data.length === 0) return E.left(serviceError(ErrorCode.Internal, "download made no progress"));

  const window = windowOf(opts);
  const queue: Array<{ offset: number; length: number; reply: ReturnType<typeof fetchRange> }> = [];
  let requested = offset;
  while (offset < size) {
    while (queue.length < window && requested < size) {
      const length = Math.min(MEDIA_CHUNK_BYTES, size - requested);
      queue.push({ offset: requested, length, reply: fetchRange(requested, length) });
      requested += length;
    }
    const q = queue.shift()!;
    const r = await q.reply;
    if (E.isLeft(r)) return r;
    if (r.right.size !== size || r.right.data.length !== q.length) return E.left(serviceError(ErrorCode.Internal, "download ranges are inconsistent"));
    const stop = onData(r.right.data, q.offset, size);
    if (stop) return E.left(stop);
    offset = q.offset + q.length;
  }
  return E.right({ size });
};

/**
 * Downloads, checks digest and MAC, and decrypts while the chunks arrive. Plaintext is written
 * into one buffer of the pointer's size and returned only once the whole ciphertext verified; on
 * any failure that buffer is wiped. Memory: the plaintext plus `window` chunks.
 */
export const downloadAttachment = async (client: InterlinkClient, p: AttachmentPointer, opts: TransferOptions = {}): Res<Uint8Array> => {
  let dec: AttachmentDecryptor | undefined;
  let out: Buffer | undefined;
  let pos = 0;
  const got = await downloadCiphertext(
    client,
    p.id,
    p.cap,
    (data, _offset, size) => {
      if (dec === undefined) {
        const bad = AttachmentDecryptor.check(p.key, size);
        if (bad !== null) return serviceError(bad.code, bad.message);
        if (p.size > attachmentMaxPlaintextLength(size)) return sizeMismatch();
        dec = new AttachmentDecryptor(p.key, p.digest, size);
        out = Buffer.allocUnsafe(p.size);
      }
      const plain = dec.update(data);
      if (pos + plain.length > p.size) return sizeMismatch();
      out!.set(plain, pos);
      pos += plain.length;
    },
    opts,
  );
  const fail = (e: ServiceError) => {
    out?.fill(0);
    return E.left(e);
  };
  if (E.isLeft(got)) return fail(got.left);
  if (dec === undefined) {
    // An empty blob: media-store never stores one, so this is not an attachment.
    return fail(serviceError("invalid_message", "attachment ciphertext too short"));
  }
  const last = dec.final();
  if (E.isLeft(last)) return fail(serviceError(last.left.code, last.left.message));
  if (pos + last.right.length !== p.size) return fail(sizeMismatch());
  out!.set(last.right, pos);
  return E.right(out!);
};
