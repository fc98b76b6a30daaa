import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Hash } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import { Kvm } from "@nats-io/kv";
import { Objm, setSha256Backend } from "@nats-io/obj";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { headers, nanos } from "@nats-io/transport-node";
import type { RunningService, ServiceEnv, ServiceError, Versioned } from "@interlink/actor";
import { CasStore, ErrorCode, ServiceHost, endpoint, serviceError } from "@interlink/actor";
import type {
  BeginUpload,
  BeginUploadResponse,
  CommitUploadResponse,
  DeleteMedia,
  DeleteMediaResponse,
  Download,
  DownloadResponse,
  UploadChunk,
} from "@interlink/client";
import { BeginUploadS, CommitUploadS, DeleteMediaS, DownloadS, MEDIA_CHUNK_BYTES, MediaErrorCode, UploadChunkS } from "@interlink/client";
import type { ProviderId } from "@interlink/subjects";
import { Service, opaqueToken } from "@interlink/subjects";
import { appendSeq, chunkSubject, metaSubject, objectMeta, objectStream, seqAt } from "./layout.js";
import type { MediaOptions } from "./limits.js";
import { resolveMediaOptions } from "./limits.js";
import type { MediaRecord, UploadState } from "./records.js";
import { MediaRecordS, ResumeRecordS, UploadStateS } from "./records.js";

export const MEDIA_BUCKET = "ilk_media";
export const MEDIA_INDEX_BUCKET = "ilk_media_index";
export const UPLOADS_BUCKET = "ilk_uploads";
/** The Object Store's stream: chunks of uploads in progress and of committed objects. */
export const MEDIA_STREAM = objectStream(MEDIA_BUCKET);

const newId = (): string => randomBytes(16).toString("base64url");
const sha256 = (b: Uint8Array): Buffer => createHash("sha256").update(b).digest();
const hashMatches = (secret: Uint8Array, hash: Uint8Array): boolean => timingSafeEqual(sha256(secret), hash);

const unknownUpload = (): ServiceError => serviceError(MediaErrorCode.UnknownUpload, "no such upload in progress");
// Wrong id, wrong capability, deleted and expired answer alike, so ids cannot be probed.
const unknownMedia = (): ServiceError => serviceError(MediaErrorCode.UnknownMedia, "no such media, or not allowed");
const storeDown = (): ServiceError => serviceError(ErrorCode.Unavailable, "media store unavailable", { retryable: true, retryAfterMs: 500 });
const digestMismatch = (): ServiceError =>
  serviceError(MediaErrorCode.DigestMismatch, "uploaded bytes do not match the declared size and digest; the upload was discarded");

/** The SHA-256 of an upload's chunks so far, kept by the instance that stored them. */
interface RunningHash {
  readonly hash: Hash;
  count: number;
  lastSeq: number;
}
const MAX_RUNNING_HASHES = 4_096;

/** Brings an existing stream's max_age (and a dedupe window that must not exceed it) in line with the options. */
const ensureMaxAge = async (jsm: JetStreamManager, stream: string, maxAgeMs: number): Promise<void> => {
  const si = await jsm.streams.info(stream);
  const want = nanos(maxAgeMs);
  if (si.config.max_age === want) return;
  const dup = si.config.duplicate_window;
  await jsm.streams.update(stream, { ...si.config, max_age: want, ...(dup !== undefined && dup > want ? { duplicate_window: want } : {}) });
};

/**
 * media-store: encrypted attachment blobs, which it never sees in the clear.
 *
 *  begin  {kind, size, digest}  → {uploadId, chunkSize, received}; the same declaration by the same
 *                                 provider while an upload is open resumes it (`received` chunks kept)
 *  chunk  {uploadId, index, data} in order; each chunk goes straight into the Object Store's stream
 *  commit {uploadId}            → checks size and SHA-256 over the ciphertext, writes the object's
 *                                 metadata and the index record; answers {mediaId, cap, size, deleteToken}
 *  download {mediaId, cap, offset, length?} → one or two direct gets by recorded chunk sequence
 *  delete {mediaId, token}      → only the uploading provider with the commit's delete token
 *
 * Nothing is downloadable before its index record exists, which commit writes last.
 */
export const startMediaStore = async (env: ServiceEnv, opts: MediaOptions = {}): Promise<RunningService> => {
  // node:crypto SHA-256 for the Object Store library's own reads (~25x its JS one).
  setSha256Backend("native");
  const o = resolveMediaOptions(opts);
  const jsm = await jetstreamManager(env.nc);
  const js = jetstream(env.nc);
  const kvm = new Kvm(env.nc);

  // Uploads: the bucket's TTL is only a backstop; an upload is dead `uploadTtlMs` after begin and
  // the sweeper removes its chunks.
  const uploadsKv = await kvm.create(UPLOADS_BUCKET, { replicas: env.replicas, history: 1, ttl: 2 * o.uploadTtlMs });
  await ensureMaxAge(jsm, `KV_${UPLOADS_BUCKET}`, 2 * o.uploadTtlMs);
  const uploads = new CasStore(uploadsKv, UploadStateS);
  const resumes = new CasStore(uploadsKv, ResumeRecordS);
  const indexKv = await kvm.create(MEDIA_INDEX_BUCKET, { replicas: env.replicas, history: 1, ttl: o.retentionMs });
  await ensureMaxAge(jsm, `KV_${MEDIA_INDEX_BUCKET}`, o.retentionMs);
  const index = new CasStore(indexKv, MediaRecordS);
  // Chunks are written at upload time, up to uploadTtlMs before the commit that starts the retention
  // clock. (The Object Store's ttl is in nanoseconds, unlike KV's milliseconds.)
  const objects = await new Objm(env.nc).create(MEDIA_BUCKET, { replicas: env.replicas, ttl: nanos(o.retentionMs + o.uploadTtlMs) });
  await ensureMaxAge(jsm, MEDIA_STREAM, o.retentionMs + o.uploadTtlMs);

  const now = (): number => env.clock.now();
  const running = new Map<string, RunningHash>();
  const host = new ServiceHost({ service: Service.Media, nc: env.nc, log: env.log, clock: env.clock });

  const uploadKey = (uploadId: string) => `u.${uploadId}`;
  const resumeKeyOf = (provider: ProviderId, req: BeginUpload) =>
    `r.${opaqueToken(env.secret, "media-resume", provider, req.kind, req.size, Buffer.from(req.digest).toString("hex"))}`;

  const loadUpload = async (uploadId: string, provider: ProviderId) => {
    const cur = await uploads.get(uploadKey(uploadId));
    if (E.isLeft(cur)) return cur;
    const st = cur.right?.value;
    if (st === undefined || st.provider !== provider || st.createdAt + o.uploadTtlMs <= now()) return E.left(unknownUpload());
    return E.right(cur.right!);
  };

  const purgeChunks = (nuid: string): Promise<unknown> =>
    jsm.streams.purge(MEDIA_STREAM, { filter: chunkSubject(MEDIA_BUCKET, nuid) }).catch(() => undefined);

  /** Drops an upload: state first (compare-and-swap), then its resume pointer, then its chunks. */
  const discardUpload = async (uploadId: string, st: UploadState, revision: number): Promise<void> => {
    running.delete(uploadId);
    const d = await uploads.delete(uploadKey(uploadId), revision);
    if (E.isLeft(d)) return;
    const r = await resumes.get(st.resumeKey);
    if (E.isRight(r) && r.right !== null && r.right.value.uploadId === uploadId) await resumes.delete(st.resumeKey, r.right.revision);
    await purgeChunks(uploadId);
  };

  /** Chunk `k` of an object, checked to belong to it; null when it is gone. */
  const readChunk = async (nuid: string, seqs: Uint8Array, k: number): Promise<Either<ServiceError, Uint8Array | null>> => {
    const seq = seqAt(seqs, k);
    if (seq === undefined) return E.right(null);
    try {
      // Direct gets may be answered by a replica that is a little behind: ask the leader before giving up.
      const m = (await jsm.direct.getMessage(MEDIA_STREAM, { seq })) ?? (await jsm.streams.getMessage(MEDIA_STREAM, { seq }).catch(() => null));
      if (m === null || m.subject !== chunkSubject(MEDIA_BUCKET, nuid)) return E.right(null);
      return E.right(m.data);
    } catch {
      return E.left(storeDown());
    }
  };

  const begin = endpoint<BeginUpload, BeginUploadResponse>({
    op: "begin",
    schema: BeginUploadS,
    // Two begins of the same declaration in this process run one after the other.
    key: (req, ctx) => resumeKeyOf(ctx.provider, req),
    handle: (req, ctx) => async () => {
      const limit = o.limits[req.kind];
      if (req.size > limit) {
        return E.left(serviceError(MediaErrorCode.TooLarge, `${req.kind} uploads are limited to ${limit} bytes`, { details: { limit } }));
      }
      const resumeKey = resumeKeyOf(ctx.provider, req);
      const prior = await resumes.get(resumeKey);
      if (E.isLeft(prior)) return prior;
      if (prior.right !== null) {
        // Resume: an open upload of exactly these bytes (same kind, size and ciphertext digest).
        const cur = await loadUpload(prior.right.value.uploadId, ctx.provider);
        if (E.isRight(cur)) {
          const st = cur.right.value;
          return E.right({ uploadId: prior.right.value.uploadId, chunkSize: st.chunkSize, received: st.received });
        }
        // A stale pointer (the upload expired or was discarded) is replaced below.
      }
      const uploadId = newId();
      const t = now();
      const state: UploadState = {
        v: 2,
        provider: ctx.provider,
        kind: req.kind,
        size: req.size,
        digest: req.digest,
        chunkSize: MEDIA_CHUNK_BYTES,
        received: 0,
        bytes: 0,
        seqs: new Uint8Array(0),
        resumeKey,
        createdAt: t,
        updatedAt: t,
      };
      const w = await uploads.put(uploadKey(uploadId), state, 0);
      if (E.isLeft(w)) return w;
      const r = await resumes.put(resumeKey, { v: 1, uploadId }, prior.right?.revision ?? 0);
      if (E.isLeft(r)) {
        // Another instance began the same upload at the same moment: the caller retries and resumes it.
        await uploads.delete(uploadKey(uploadId));
        return r;
      }
      return E.right({ uploadId, chunkSize: MEDIA_CHUNK_BYTES, received: 0 });
    },
  });

  const chunk = endpoint<UploadChunk, { received: number }, Versioned<UploadState>>({
    op: "chunk",
    schema: UploadChunkS,
    // One writer per upload in this process; CAS on the upload state covers other instances.
    key: (req) => req.uploadId,
    handle: (req, ctx, cell) => async () => {
      for (let attempt = 0; ; attempt++) {
        // The actor keeps the state it last wrote, which saves a read per chunk; the CAS on the write
        // catches a copy made stale by another instance, and then the state is read afresh.
        const cached = attempt === 0 ? cell?.state : undefined;
        let cur: Versioned<UploadState>;
        if (cached !== undefined && cached.value.provider === ctx.provider && cached.value.received === req.index && cached.value.createdAt + o.uploadTtlMs > now()) {
          cur = cached;
        } else {
          const loaded = await loadUpload(req.uploadId, ctx.provider);
          if (E.isLeft(loaded)) {
            if (cell !== undefined) cell.state = undefined;
            return loaded;
          }
          cur = loaded.right;
        }
        const st = cur.value;
        if (req.index < st.received) return E.right({ received: st.received }); // a retry of a stored chunk
        if (req.index > st.received) {
          return E.left(serviceError(MediaErrorCode.OutOfOrder, "chunks must arrive in order", { details: { expected: st.received } }));
        }
        const last = st.bytes + req.data.length >= st.size;
        if (st.bytes + req.data.length > st.size || (!last && req.data.length !== st.chunkSize)) {
          return E.left(serviceError(MediaErrorCode.SizeMismatch, "chunk does not fit the declared size"));
        }
        let seq: number;
        try {
          seq = (await js.publish(chunkSubject(MEDIA_BUCKET, req.uploadId), req.data)).seq;
        } catch {
          return E.left(storeDown());
        }
        const next: UploadState = {
          ...st,
          received: st.received + 1,
          bytes: st.bytes + req.data.length,
          seqs: appendSeq(st.seqs, seq),
          updatedAt: now(),
        };
        const w = await uploads.put(uploadKey(req.uploadId), next, cur.revision);
        if (E.isLeft(w)) {
          // Someone else stored this index first (or the upload is gone): remove our copy.
          running.delete(req.uploadId);
          if (cell !== undefined) cell.state = undefined;
          await jsm.streams.deleteMessage(MEDIA_STREAM, seq, false).catch(() => undefined);
          if (cur === cached && w.left.code === ErrorCode.Conflict) continue;
          return w;
        }
        if (cell !== undefined) cell.state = { value: next, revision: w.right };
        const r = running.get(req.uploadId);
        if (st.received === 0) {
          running.set(req.uploadId, { hash: createHash("sha256").update(req.data), count: 1, lastSeq: seq });
          if (running.size > MAX_RUNNING_HASHES) running.delete(running.keys().next().value!);
        } else if (r !== undefined && r.count === st.received && r.lastSeq === seqAt(st.seqs, st.received - 1)) {
          r.hash.update(req.data);
          r.count++;
          r.lastSeq = seq;
        } else {
          // Another instance stored some chunks: commit reads them back to hash.
          running.delete(req.uploadId);
        }
        return E.right({ received: next.received });
      }
    },
  });

  const commit = endpoint<{ uploadId: string }, CommitUploadResponse>({
    op: "commit",
    schema: CommitUploadS,
    key: (req) => req.uploadId,
    handle: (req, ctx) => async () => {
      const cur = await loadUpload(req.uploadId, ctx.provider);
      if (E.isLeft(cur)) return cur;
      const st = cur.right.value;
      if (st.bytes !== st.size) return E.left(serviceError(MediaErrorCode.SizeMismatch, "upload is incomplete", { details: { received: st.received } }));
      const n = st.received;
      let digest: Buffer;
      const r = running.get(req.uploadId);
      running.delete(req.uploadId);
      if (r !== undefined && r.count === n && r.lastSeq === seqAt(st.seqs, n - 1)) {
        digest = r.hash.digest();
      } else {
        // Hash what is stored, in order.
        const h = createHash("sha256");
        let size = 0;
        for (let k = 0; k < n; k++) {
          const c = await readChunk(req.uploadId, st.seqs, k);
          if (E.isLeft(c)) return c;
          if (c.right === null) break;
          h.update(c.right);
          size += c.right.length;
        }
        digest = size === st.size ? h.digest() : Buffer.alloc(32);
      }
      if (!timingSafeEqual(digest, st.digest)) {
        await discardUpload(req.uploadId, st, cur.right.revision);
        return E.left(digestMismatch());
      }
      const mediaId = newId();
      const cap = randomBytes(32);
      const deleteToken = randomBytes(32);
      const t = now();
      try {
        const h = headers();
        h.set("Nats-Rollup", "sub");
        await js.publish(
          metaSubject(MEDIA_BUCKET, mediaId),
          objectMeta({ bucket: MEDIA_BUCKET, name: mediaId, nuid: req.uploadId, size: st.size, chunks: n, chunkSize: st.chunkSize, digest, mtime: new Date(t) }),
          { headers: h },
        );
      } catch {
        return E.left(storeDown());
      }
      const rec: MediaRecord = {
        v: 2,
        owner: ctx.provider,
        kind: st.kind,
        size: st.size,
        capHash: sha256(cap),
        deleteHash: sha256(deleteToken),
        nuid: req.uploadId,
        chunkSize: st.chunkSize,
        seqs: st.seqs,
        createdAt: t,
        expiresAt: t + o.retentionMs,
      };
      // Only now is the blob reachable: nothing partial can ever be downloaded.
      const w = await index.put(`m.${mediaId}`, rec, 0);
      if (E.isLeft(w)) return w;
      await uploads.delete(uploadKey(req.uploadId));
      await resumes.delete(st.resumeKey);
      env.log.debug("media committed", { kind: st.kind, bytes: st.size, chunks: n });
      return E.right({ mediaId, cap, size: st.size, deleteToken });
    },
  });

  const loadMedia = async (mediaId: string, secret: Uint8Array, which: "capHash" | "deleteHash") => {
    const cur = await index.get(`m.${mediaId}`);
    if (E.isLeft(cur)) return cur;
    const rec = cur.right?.value;
    if (rec === undefined || rec.expiresAt <= now() || !hashMatches(secret, rec[which])) return E.left(unknownMedia());
    return E.right(cur.right!);
  };

  const download = endpoint<Download, DownloadResponse>({
    op: "download",
    schema: DownloadS,
    handle: (req) => async () => {
      const cur = await loadMedia(req.mediaId, req.cap, "capHash");
      if (E.isLeft(cur)) return cur;
      const rec = cur.right.value;
      if (req.offset > rec.size) return E.left(serviceError(ErrorCode.BadRequest, "offset beyond the end"));
      const want = Math.min(req.length ?? MEDIA_CHUNK_BYTES, rec.size - req.offset);
      if (want === 0) return E.right({ data: new Uint8Array(0), size: rec.size, eof: true });
      const cs = rec.chunkSize;
      const first = Math.floor(req.offset / cs);
      const last = Math.floor((req.offset + want - 1) / cs);
      const parts: Uint8Array[] = [];
      for (let k = first; k <= last; k++) {
        const c = await readChunk(rec.nuid, rec.seqs, k);
        if (E.isLeft(c)) return c;
        if (c.right === null) return E.left(unknownMedia()); // expired (stream max age) or deleted meanwhile
        if (c.right.length !== Math.min(cs, rec.size - k * cs)) return E.left(serviceError(ErrorCode.Internal, "stored media is damaged"));
        parts.push(c.right);
      }
      const start = req.offset - first * cs;
      const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      return E.right({ data: joined.subarray(start, start + want), size: rec.size, eof: req.offset + want >= rec.size });
    },
  });

  const remove = endpoint<DeleteMedia, DeleteMediaResponse>({
    op: "delete",
    schema: DeleteMediaS,
    key: (req) => req.mediaId,
    handle: (req, ctx) => async () => {
      const cur = await loadMedia(req.mediaId, req.token, "deleteHash");
      if (E.isLeft(cur)) return cur;
      const rec = cur.right.value;
      if (rec.owner !== ctx.provider) return E.left(unknownMedia());
      // Unreachable first, then the bytes.
      const d = await index.delete(`m.${req.mediaId}`, cur.right.revision);
      if (E.isLeft(d)) return d;
      await objects.delete(req.mediaId).catch(() => undefined);
      await purgeChunks(rec.nuid);
      return E.right({ deleted: true });
    },
  });

  // Abandoned uploads: their chunks sit in the object stream until swept.
  let sweeping: Promise<void> | undefined;
  const sweep = async (): Promise<void> => {
    const keys: string[] = [];
    for await (const k of await uploadsKv.keys("u.*")) keys.push(k);
    let swept = 0;
    for (const k of keys) {
      const cur = await uploads.get(k);
      if (E.isLeft(cur) || cur.right === null) continue;
      const st = cur.right.value;
      if (st.createdAt + o.uploadTtlMs > now()) continue;
      await discardUpload(k.slice(2), st, cur.right.revision);
      swept++;
    }
    if (swept > 0) env.log.info("abandoned uploads swept", { count: swept });
  };
  const timer = setInterval(() => {
    if (sweeping !== undefined) return;
    sweeping = sweep()
      .catch((err) => env.log.warn("upload sweep failed", { error: err instanceof Error ? err.name : typeof err }))
      .finally(() => (sweeping = undefined));
  }, o.sweepIntervalMs);
  timer.unref();

  host.serve([begin, chunk, commit, download, remove]);
  return {
    name: "media-store",
    stats: () => host.stats(),
    stop: async () => {
      clearInterval(timer);
      await host.drain();
      await sweeping;
    },
  };
};
