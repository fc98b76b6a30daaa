import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect, startSingle, useTopology } from "@interlink/testing";
import type { RunningService, ServiceError } from "@interlink/actor";
import { ErrorCode, Requester, silentLogger, systemClock } from "@interlink/actor";
import type { BeginUpload } from "@interlink/client";
import { InterlinkClient, MEDIA_CHUNK_BYTES, MediaErrorCode, downloadAttachment, uploadAttachment } from "@interlink/client";
import type { ProviderId } from "@interlink/subjects";
import { Service, mediaStagingSubject, requestSubject } from "@interlink/subjects";
import { createCodec } from "@interlink/wire";
import { MEDIA_BUCKET, STAGING_STREAM, defaultMediaLimits, startMediaStore } from "../src/index.js";

const alpha = "alpha" as ProviderId;
const beta = "beta" as ProviderId;
const codec = createCodec();
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest();

const right = <T>(r: Either<ServiceError, T>): T => {
  if (E.isLeft(r)) throw new Error(`expected success, got ${r.left.code}: ${r.left.message}`);
  return r.right;
};
const left = <T>(r: Either<ServiceError, T>): ServiceError => {
  if (E.isRight(r)) throw new Error(`expected an error, got ${JSON.stringify(r.right).slice(0, 200)}`);
  return r.left;
};

describe("media-store", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  let media: RunningService;
  let a: InterlinkClient;
  let b: InterlinkClient;
  let jsm: JetStreamManager;
  let admin: NatsConnection;

  const conn = async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    return nc;
  };

  /** Chunks `data` the way a client does: full chunks, the last one shorter. */
  const chunksOf = (data: Uint8Array, size = MEDIA_CHUNK_BYTES) => {
    const out: Uint8Array[] = [];
    for (let off = 0; off < data.length; off += size) out.push(data.subarray(off, off + size));
    return out;
  };

  const begin = (c: InterlinkClient, data: Uint8Array, over: Partial<Omit<BeginUpload, "v">> = {}) =>
    c.media.begin({ kind: "file", size: data.length, digest: sha256(data), ...over });

  const upload = async (c: InterlinkClient, data: Uint8Array) => {
    const { uploadId } = right(await begin(c, data));
    for (const [index, chunk] of chunksOf(data).entries()) right(await c.media.chunk({ uploadId, index, data: chunk }));
    return right(await c.media.commit(uploadId));
  };

  const objectCount = async () => {
    const os = await new Objm(admin).open(MEDIA_BUCKET);
    return (await os.list()).length;
  };
  const staged = async (uploadId: string) => jsm.direct.getMessage(STAGING_STREAM, { last_by_subj: mediaStagingSubject(uploadId) });

  beforeAll(async () => {
    const nc = await conn();
    media = await startMediaStore({ nc, log: silentLogger, clock: systemClock, secret: randomBytes(32), replicas: 1 });
    await nc.flush();
    a = new InterlinkClient(await conn(), alpha);
    b = new InterlinkClient(await conn(), beta);
    admin = await conn();
    jsm = await jetstreamManager(admin);
  });

  afterAll(async () => {
    a.close();
    b.close();
    await media.stop();
    for (const c of conns) await c.close();
  });

  it("uploads in chunks and serves any byte range of exactly those bytes", async () => {
    const data = randomBytes(2 * MEDIA_CHUNK_BYTES + 12_345);
    const begun = right(await begin(a, data));
    expect(begun).toMatchObject({ chunkSize: MEDIA_CHUNK_BYTES, received: 0 });
    const parts = chunksOf(data);
    for (const [index, chunk] of parts.entries()) {
      expect(right(await a.media.chunk({ uploadId: begun.uploadId, index, data: chunk }))).toEqual({ received: index + 1 });
    }
    const done = right(await a.media.commit(begun.uploadId));
    expect(done.size).toBe(data.length);
    expect(done.cap.length).toBe(32);
    // The upload is finished: its staging is gone and it cannot be committed again.
    expect(await staged(begun.uploadId)).toBeNull();
    expect(left(await a.media.commit(begun.uploadId)).code).toBe(MediaErrorCode.UnknownUpload);

    // Any provider holding the capability may download (the recipient's provider does).
    const ranges: Array<[number, number | undefined]> = [
      [0, 1],
      [0, 1000],
      [MEDIA_CHUNK_BYTES - 10, 20], // across a chunk boundary
      [MEDIA_CHUNK_BYTES, MEDIA_CHUNK_BYTES],
      [1, undefined],
      [data.length - 5, 100], // runs past the end
    ];
    for (const [offset, length] of ranges) {
      const r = right(await b.media.download({ mediaId: done.mediaId, cap: done.cap, offset, ...(length ? { length } : {}) }));
      const want = data.subarray(offset, offset + (length ?? MEDIA_CHUNK_BYTES));
      expect(r.size).toBe(data.length);
      expect(Buffer.from(r.data).equals(want)).toBe(true);
      expect(r.eof).toBe(offset + want.length >= data.length);
    }
    const end = right(await b.media.download({ mediaId: done.mediaId, cap: done.cap, offset: data.length }));
    expect(end).toMatchObject({ size: data.length, eof: true });
    expect(end.data.length).toBe(0);
    expect(left(await b.media.download({ mediaId: done.mediaId, cap: done.cap, offset: data.length + 1 })).code).toBe(ErrorCode.BadRequest);

    // Whole file in odd-sized ranges.
    const got: Uint8Array[] = [];
    for (let offset = 0; ; ) {
      const r = right(await a.media.download({ mediaId: done.mediaId, cap: done.cap, offset, length: 100_000 }));
      got.push(r.data);
      offset += r.data.length;
      if (r.eof) break;
    }
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });

  it("refuses a commit whose bytes do not match the digest and keeps nothing", async () => {
    const data = randomBytes(MEDIA_CHUNK_BYTES + 500);
    const objectsBefore = await objectCount();
    const { uploadId } = right(await begin(a, data, { digest: sha256(randomBytes(10)) }));
    for (const [index, chunk] of chunksOf(data).entries()) right(await a.media.chunk({ uploadId, index, data: chunk }));
    expect(await staged(uploadId)).not.toBeNull();
    expect(left(await a.media.commit(uploadId)).code).toBe(MediaErrorCode.DigestMismatch);
    expect(await objectCount()).toBe(objectsBefore);
    expect(await staged(uploadId)).toBeNull();
    expect(left(await a.media.commit(uploadId)).code).toBe(MediaErrorCode.UnknownUpload);
    expect(left(await a.media.chunk({ uploadId, index: 0, data: data.subarray(0, 10) })).code).toBe(MediaErrorCode.UnknownUpload);
  });

  it("answers a wrong capability and an unknown media id with the same unknown_media error", async () => {
    const data = randomBytes(1000);
    const done = await upload(a, data);
    const errs = [
      left(await b.media.download({ mediaId: done.mediaId, cap: randomBytes(32), offset: 0 })),
      left(await b.media.download({ mediaId: done.mediaId, cap: done.cap.subarray(0, 16), offset: 0 })),
      left(await b.media.download({ mediaId: done.mediaId, cap: Buffer.concat([done.cap, Buffer.from([0])]), offset: 0 })),
      left(await b.media.download({ mediaId: randomBytes(16).toString("base64url"), cap: done.cap, offset: 0 })),
      // An upload id is not a media id.
      left(await b.media.download({ mediaId: right(await begin(a, data)).uploadId, cap: done.cap, offset: 0 })),
    ];
    for (const e of errs) {
      expect(e.code).toBe(MediaErrorCode.UnknownMedia);
      expect(e).toEqual(errs[0]);
    }
    // The right pair still works.
    const ok = right(await b.media.download({ mediaId: done.mediaId, cap: done.cap, offset: 0 }));
    expect(Buffer.from(ok.data).equals(data)).toBe(true);
  });

  it("takes chunks only in order, idempotently when retried, and only up to the declared size", async () => {
    const data = randomBytes(2 * MEDIA_CHUNK_BYTES + 7);
    const parts = chunksOf(data);
    const { uploadId } = right(await begin(a, data));

    const skip = left(await a.media.chunk({ uploadId, index: 1, data: parts[1]! }));
    expect(skip.code).toBe(MediaErrorCode.OutOfOrder);
    expect(skip.details).toEqual({ expected: 0 });

    // A short chunk that is not the last one would shift every later byte.
    expect(left(await a.media.chunk({ uploadId, index: 0, data: parts[0]!.subarray(1) })).code).toBe(MediaErrorCode.SizeMismatch);

    expect(right(await a.media.chunk({ uploadId, index: 0, data: parts[0]! }))).toEqual({ received: 1 });
    // A retry of a stored chunk (its answer was lost) is accepted and changes nothing, even with other bytes.
    expect(right(await a.media.chunk({ uploadId, index: 0, data: parts[0]! }))).toEqual({ received: 1 });
    expect(right(await a.media.chunk({ uploadId, index: 0, data: randomBytes(MEDIA_CHUNK_BYTES) }))).toEqual({ received: 1 });

    // Committing now is premature.
    const early = left(await a.media.commit(uploadId));
    expect(early.code).toBe(MediaErrorCode.SizeMismatch);
    expect(early.details).toEqual({ received: 1 });

    // Resuming: begin is not repeated; the client continues from `received`.
    right(await a.media.chunk({ uploadId, index: 1, data: parts[1]! }));
    // The last chunk may not be longer than what is left.
    expect(left(await a.media.chunk({ uploadId, index: 2, data: Buffer.concat([parts[2]!, Buffer.from([1])]) })).code).toBe(MediaErrorCode.SizeMismatch);
    expect(right(await a.media.chunk({ uploadId, index: 2, data: parts[2]! }))).toEqual({ received: 3 });
    // Nothing fits after the declared size.
    expect(left(await a.media.chunk({ uploadId, index: 3, data: Buffer.from([1]) })).code).toBe(MediaErrorCode.SizeMismatch);
    expect(left(await a.media.chunk({ uploadId, index: 5, data: Buffer.from([1]) })).code).toBe(MediaErrorCode.OutOfOrder);
    expect(right(await a.media.chunk({ uploadId, index: 1, data: parts[1]! }))).toEqual({ received: 3 });

    const done = right(await a.media.commit(uploadId));
    const got: Uint8Array[] = [];
    for (let offset = 0; offset < done.size; ) {
      const r = right(await a.media.download({ mediaId: done.mediaId, cap: done.cap, offset }));
      got.push(r.data);
      offset += r.data.length;
    }
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });

  it("refuses an upload over the per-kind limit at begin", async () => {
    const over = left(await a.media.begin({ kind: "image", size: defaultMediaLimits.image + 1, digest: randomBytes(32) }));
    expect(over.code).toBe(MediaErrorCode.TooLarge);
    expect(over.details).toEqual({ limit: defaultMediaLimits.image });
    // The same size is fine for a kind with a higher limit, and the limit itself is allowed.
    right(await a.media.begin({ kind: "video", size: defaultMediaLimits.image + 1, digest: randomBytes(32) }));
    right(await a.media.begin({ kind: "image", size: defaultMediaLimits.image, digest: randomBytes(32) }));
  });

  it("does not let another provider continue, commit or probe someone's upload", async () => {
    const data = randomBytes(MEDIA_CHUNK_BYTES + 1);
    const parts = chunksOf(data);
    const { uploadId } = right(await begin(a, data));
    right(await a.media.chunk({ uploadId, index: 0, data: parts[0]! }));
    const errs = [
      left(await b.media.chunk({ uploadId, index: 1, data: parts[1]! })),
      left(await b.media.chunk({ uploadId, index: 0, data: parts[0]! })),
      left(await b.media.commit(uploadId)),
      left(await a.media.chunk({ uploadId: randomBytes(16).toString("base64url"), index: 0, data: parts[0]! })),
    ];
    for (const e of errs) {
      expect(e.code).toBe(MediaErrorCode.UnknownUpload);
      expect(e).toEqual(errs[0]);
    }
    right(await a.media.chunk({ uploadId, index: 1, data: parts[1]! }));
    const done = right(await a.media.commit(uploadId));
    expect(done.size).toBe(data.length);
  });

  it("answers malformed requests with bad_request and keeps serving", async () => {
    const raw = new Requester(admin, { timeoutMs: 5000 });
    try {
      const garbage = await raw.callRaw(requestSubject(Service.Media, "chunk", alpha), new Uint8Array([0xc1, 0xc1]));
      expect(E.isLeft(garbage) && garbage.left.code).toBe(ErrorCode.BadRequest);
      const tooBig = await raw.callRaw(
        requestSubject(Service.Media, "chunk", alpha),
        codec.encode({ v: 1, uploadId: "x".repeat(22), index: 0, data: new Uint8Array(MEDIA_CHUNK_BYTES + 1) }),
      );
      expect(E.isLeft(tooBig) && tooBig.left.code).toBe(ErrorCode.BadRequest);
      const shortDigest = await raw.callRaw(requestSubject(Service.Media, "begin", alpha), codec.encode({ v: 1, kind: "file", size: 10, digest: new Uint8Array(31) }));
      expect(E.isLeft(shortDigest) && shortDigest.left.code).toBe(ErrorCode.BadRequest);
      const badKind = await raw.callRaw(requestSubject(Service.Media, "begin", alpha), codec.encode({ v: 1, kind: "exe", size: 10, digest: new Uint8Array(32) }));
      expect(E.isLeft(badKind) && badKind.left.code).toBe(ErrorCode.BadRequest);
      const zero = await raw.callRaw(requestSubject(Service.Media, "begin", alpha), codec.encode({ v: 1, kind: "file", size: 0, digest: new Uint8Array(32) }));
      expect(E.isLeft(zero) && zero.left.code).toBe(ErrorCode.BadRequest);
    } finally {
      raw.close();
    }
    const done = await upload(a, randomBytes(10));
    expect(done.size).toBe(10);
  });

  it("round-trips an encrypted 2 MiB attachment through uploadAttachment / downloadAttachment", async () => {
    const plain = randomBytes(2 * 1024 * 1024 + 333);
    const pointer = right(await uploadAttachment(a, "video", plain, { mime: "video/mp4", fileName: "clip.mp4", durationMs: 4000 }));
    expect(pointer).toMatchObject({ size: plain.length, mime: "video/mp4", fileName: "clip.mp4" });
    // The hub holds ciphertext only: no window of the plaintext appears in what it serves.
    const first = right(await b.media.download({ mediaId: pointer.id, cap: pointer.cap, offset: 0 }));
    expect(first.size).toBeGreaterThan(plain.length);
    expect(Buffer.from(first.data).includes(plain.subarray(1000, 1032))).toBe(false);

    const got = right(await downloadAttachment(b, pointer));
    expect(Buffer.from(got).equals(plain)).toBe(true);

    // A pointer with a wrong key or digest does not decrypt.
    const badKey = await downloadAttachment(b, { ...pointer, key: randomBytes(pointer.key.length) });
    expect(E.isLeft(badKey)).toBe(true);
    const badDigest = await downloadAttachment(b, { ...pointer, digest: randomBytes(32) });
    expect(E.isLeft(badDigest)).toBe(true);
  });
});
