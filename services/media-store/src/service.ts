import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { Kvm } from "@nats-io/kv";
import { Objm, setSha256Backend } from "@nats-io/obj";
import { JetStreamApiError, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { RunningService, ServiceEnv, ServiceError } from "@interlink/actor";
import { CasStore, ErrorCode, ServiceHost, endpoint, serviceError } from "@interlink/actor";
import type { BeginUpload, BeginUploadResponse, CommitUploadResponse, Download, DownloadResponse, UploadChunk } from "@interlink/client";
import { BeginUploadS, CommitUploadS, DownloadS, MEDIA_CHUNK_BYTES, MediaErrorCode, UploadChunkS } from "@interlink/client";
import { Service, mediaStagingSubject, MEDIA_STAGING_WILDCARD } from "@interlink/subjects";
import type { MediaLimits } from "./limits.js";
import { defaultMediaLimits } from "./limits.js";
import type { MediaRecord, UploadState } from "./records.js";
import { MediaRecordS, UploadStateS } from "./records.js";

export const MEDIA_BUCKET = "ilk_media";
export const MEDIA_INDEX_BUCKET = "ilk_media_index";
export const UPLOADS_BUCKET = "ilk_uploads";
export const STAGING_STREAM = "ILK_MEDIA_STAGING";

export interface MediaOptions {
  readonly limits?: Partial<MediaLimits>;
  /** Committed media expire after this long (default 30 days). */
  readonly retentionMs?: number;
  /** Unfinished uploads are forgotten after this long (default 1 day). */
  readonly uploadTtlMs?: number;
}

const DAY = 24 * 60 * 60 * 1000;
const newId = (): string => randomBytes(16).toString("base64url");
const sha256 = (b: Uint8Array): Buffer => createHash("sha256").update(b).digest();

const unknownUpload = (): ServiceError => serviceError(MediaErrorCode.UnknownUpload, "no such upload in progress");
// Wrong id and wrong capability answer alike, so ids cannot be probed.
const unknownMedia = (): ServiceError => serviceError(MediaErrorCode.UnknownMedia, "no such media, or not allowed");
const storeDown = (): ServiceError => serviceError(ErrorCode.Unavailable, "media store unavailable", { retryable: true, retryAfterMs: 500 });

export const startMediaStore = async (env: ServiceEnv, opts: MediaOptions = {}): Promise<RunningService> => {
  // node:crypto SHA-256 instead of the library's JS one (~25x faster here).
  setSha256Backend("native");
  const limits = { ...defaultMediaLimits, ...opts.limits };
  const retentionMs = opts.retentionMs ?? 30 * DAY;
  const kvm = new Kvm(env.nc);
  const uploads = new CasStore(await kvm.create(UPLOADS_BUCKET, { replicas: env.replicas, history: 1, ttl: opts.uploadTtlMs ?? DAY }), UploadStateS);
  const index = new CasStore(await kvm.create(MEDIA_INDEX_BUCKET, { replicas: env.replicas, history: 1, ttl: retentionMs }), MediaRecordS);
  const objects = await new Objm(env.nc).create(MEDIA_BUCKET, { replicas: env.replicas, ttl: retentionMs });
  const jsm = await jetstreamManager(env.nc);
  const js = jetstream(env.nc);
  try {
    await jsm.streams.info(STAGING_STREAM);
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) throw err;
    await jsm.streams.add({
      name: STAGING_STREAM,
      subjects: [MEDIA_STAGING_WILDCARD],
      max_age: nanos(opts.uploadTtlMs ?? DAY),
      allow_direct: true,
      num_replicas: env.replicas,
      duplicate_window: nanos(2 * 60 * 1000),
    });
  }

  const host = new ServiceHost({ service: Service.Media, nc: env.nc, log: env.log, clock: env.clock });

  const begin = endpoint<BeginUpload, BeginUploadResponse>({
    op: "begin",
    schema: BeginUploadS,
    handle: (req, ctx) => async () => {
      if (req.size > limits[req.kind]) {
        return E.left(serviceError(MediaErrorCode.TooLarge, `${req.kind} uploads are limited to ${limits[req.kind]} bytes`, { details: { limit: limits[req.kind] } }));
      }
      const uploadId = newId();
      const state: UploadState = {
        v: 1,
        provider: ctx.provider,
        kind: req.kind,
        size: req.size,
        digest: req.digest,
        chunkSize: MEDIA_CHUNK_BYTES,
        received: 0,
        bytes: 0,
        createdAt: env.clock.now(),
      };
      const w = await uploads.put(`u.${uploadId}`, state, 0);
      if (E.isLeft(w)) return w;
      return E.right({ uploadId, chunkSize: MEDIA_CHUNK_BYTES, received: 0 });
    },
  });

  const loadUpload = async (uploadId: string, provider: string) => {
    const cur = await uploads.get(`u.${uploadId}`);
    if (E.isLeft(cur)) return cur;
    if (cur.right === null || cur.right.value.provider !== provider) return E.left(unknownUpload());
    return E.right(cur.right);
  };

  const chunk = endpoint<UploadChunk, { received: number }>({
    op: "chunk",
    schema: UploadChunkS,
    // One writer per upload in this process; CAS on the counter covers other instances.
    key: (req) => req.uploadId,
    handle: (req, ctx) => async () => {
      const cur = await loadUpload(req.uploadId, ctx.provider);
      if (E.isLeft(cur)) return cur;
      const st = cur.right.value;
      if (req.index < st.received) return E.right({ received: st.received }); // a retry of a stored chunk
      if (req.index > st.received) {
        return E.left(serviceError(MediaErrorCode.OutOfOrder, "chunks must arrive in order", { details: { expected: st.received } }));
      }
      const last = st.bytes + req.data.length >= st.size;
      if (st.bytes + req.data.length > st.size || (!last && req.data.length !== st.chunkSize)) {
        return E.left(serviceError(MediaErrorCode.SizeMismatch, "chunk does not fit the declared size"));
      }
      try {
        await js.publish(mediaStagingSubject(req.uploadId), req.data, { msgID: `${req.uploadId}.${req.index}` });
      } catch {
        return E.left(storeDown());
      }
      const next: UploadState = { ...st, received: st.received + 1, bytes: st.bytes + req.data.length };
      const w = await uploads.put(`u.${req.uploadId}`, next, cur.right.revision);
      if (E.isLeft(w)) return w;
      return E.right({ received: next.received });
    },
  });

  const purgeStaging = (uploadId: string) =>
    jsm.streams.purge(STAGING_STREAM, { filter: mediaStagingSubject(uploadId) }).catch(() => undefined);

  const commit = endpoint<{ uploadId: string }, CommitUploadResponse>({
    op: "commit",
    schema: CommitUploadS,
    key: (req) => req.uploadId,
    handle: (req, ctx) => async () => {
      const cur = await loadUpload(req.uploadId, ctx.provider);
      if (E.isLeft(cur)) return cur;
      const st = cur.right.value;
      if (st.bytes !== st.size) return E.left(serviceError(MediaErrorCode.SizeMismatch, "upload is incomplete", { details: { received: st.received } }));
      const mediaId = newId();
      const hash = createHash("sha256");
      let size = 0;
      // Stream the staged chunks into the object store while hashing them.
      const subject = mediaStagingSubject(req.uploadId);
      let seq = 0;
      let count = 0;
      const source = new ReadableStream<Uint8Array>({
        pull: async (ctl) => {
          if (count >= st.received) return ctl.close();
          const m = await jsm.direct.getMessage(STAGING_STREAM, { next_by_subj: subject, seq: seq + 1 });
          if (m === null) return ctl.close();
          seq = m.seq;
          count++;
          hash.update(m.data);
          size += m.data.length;
          ctl.enqueue(m.data);
        },
      });
      try {
        await objects.put({ name: mediaId, options: { max_chunk_size: MEDIA_CHUNK_BYTES } }, source);
      } catch {
        return E.left(storeDown());
      }
      if (size !== st.size || !timingSafeEqual(hash.digest(), Buffer.from(st.digest))) {
        await objects.delete(mediaId).catch(() => undefined);
        await uploads.delete(`u.${req.uploadId}`);
        await purgeStaging(req.uploadId);
        return E.left(serviceError(MediaErrorCode.DigestMismatch, "uploaded bytes do not match the declared size and digest"));
      }
      const cap = randomBytes(32);
      const rec: MediaRecord = { v: 1, owner: ctx.provider, kind: st.kind, size, capHash: sha256(cap), createdAt: env.clock.now() };
      // Only now is the blob reachable: nothing partial can ever be downloaded.
      const w = await index.put(`m.${mediaId}`, rec, 0);
      if (E.isLeft(w)) return w;
      await uploads.delete(`u.${req.uploadId}`);
      await purgeStaging(req.uploadId);
      return E.right({ mediaId, cap, size });
    },
  });

  const download = endpoint<Download, DownloadResponse>({
    op: "download",
    schema: DownloadS,
    handle: (req) => async () => {
      const cur = await index.get(`m.${req.mediaId}`);
      if (E.isLeft(cur)) return cur;
      const rec = cur.right?.value;
      if (rec === undefined || req.cap.length !== 32 || !timingSafeEqual(sha256(req.cap), Buffer.from(rec.capHash))) {
        return E.left(unknownMedia());
      }
      if (req.offset > rec.size) return E.left(serviceError(ErrorCode.BadRequest, "offset beyond the end"));
      const want = Math.min(req.length ?? MEDIA_CHUNK_BYTES, rec.size - req.offset);
      let obj;
      try {
        obj = await objects.get(req.mediaId);
      } catch {
        return E.left(storeDown());
      }
      if (obj === null) return E.left(unknownMedia());
      // Cancelling the stream before its end (any range short of the last byte) makes the
      // library's pump enqueue into a closed stream and reject `error`; unobserved, that
      // rejection would take the whole process down.
      obj.error.catch(() => undefined);
      // Skips to the offset; chunks match MEDIA_CHUNK_BYTES so aligned reads touch few chunks.
      const out = Buffer.alloc(want);
      let pos = 0;
      let filled = 0;
      const reader = obj.data.getReader();
      try {
        while (filled < want) {
          const { done, value } = await reader.read();
          if (done) break;
          const start = Math.max(0, req.offset - pos);
          const end = Math.min(value.length, req.offset + want - pos);
          if (end > start) {
            out.set(value.subarray(start, end), filled);
            filled += end - start;
          }
          pos += value.length;
        }
      } finally {
        await reader.cancel().catch(() => undefined);
      }
      return E.right({ data: out.subarray(0, filled), size: rec.size, eof: req.offset + filled >= rec.size });
    },
  });

  host.serve([begin, chunk, commit, download]);
  return { name: "media-store", stats: () => host.stats(), stop: () => host.drain() };
};
