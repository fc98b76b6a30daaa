import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { Objm, setSha256Backend } from "@nats-io/obj";
import type { ObjectStore } from "@nats-io/obj";
import { connect, startSingle, useTopology } from "@interlink/testing";
import type { RunningService, ServiceError } from "@interlink/actor";
import { ErrorCode, Requester, silentLogger, systemClock } from "@interlink/actor";
import type { BeginUpload } from "@interlink/client";
import {
  InterlinkClient,
  MEDIA_CHUNK_BYTES,
  MediaErrorCode,
  deleteAttachment,
  downloadAttachment,
  downloadCiphertext,
  uploadAttachment,
  uploadAttachmentWithToken,
  uploadCiphertext,
} from "@interlink/client";
import type { ProviderId } from "@interlink/subjects";
import { Service, inboxPrefix, requestSubject } from "@interlink/subjects";
import { createCodec } from "@interlink/wire";
import { MEDIA_BUCKET, MEDIA_STREAM, chunkSubject, defaultMediaLimits, startMediaStore } from "../src/index.js";

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

const downloadAll = async (c: InterlinkClient, mediaId: string, cap: Uint8Array) => {
  const got: Uint8Array[] = [];
  const r = await downloadCiphertext(c, mediaId, cap, (d) => void got.push(Buffer.from(d)));
  return E.map(() => Buffer.concat(got))(r);
};

/** Counts the requests on `subject` while `f` runs (a tap on the broker, not on the code). */
const counting = async <T>(nc: NatsConnection, subject: string, f: () => Promise<T>): Promise<{ value: T; count: number; msgs: Msg[] }> => {
  const msgs: Msg[] = [];
  const sub: Subscription = nc.subscribe(subject, { callback: (_e, m) => void msgs.push(m) });
  await nc.flush();
  const value = await f();
  await nc.flush();
  sub.unsubscribe();
  return { value, count: msgs.length, msgs };
};

const DIRECT_GET_CHUNKS = `$JS.API.DIRECT.GET.${MEDIA_STREAM}`;

describe("media-store", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  let media: RunningService;
  let a: InterlinkClient;
  let b: InterlinkClient;
  let jsm: JetStreamManager;
  let admin: NatsConnection;
  let os: ObjectStore;

  const conn = async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    return nc;
  };

  const objectCount = async () => (await os.list()).length;
  const chunksStored = async (nuid: string) => jsm.direct.getMessage(MEDIA_STREAM, { last_by_subj: chunkSubject(MEDIA_BUCKET, nuid) });

  beforeAll(async () => {
    const nc = await conn();
    media = await startMediaStore({ nc, log: silentLogger, clock: systemClock, secret: randomBytes(32), replicas: 1 });
    await nc.flush();
    a = new InterlinkClient(await conn(), alpha);
    b = new InterlinkClient(await conn(), beta);
    admin = await conn();
    jsm = await jetstreamManager(admin);
    setSha256Backend("native");
    os = await new Objm(admin).open(MEDIA_BUCKET);
  });

  afterAll(async () => {
    a.close();
    b.close();
    await media.stop();
    for (const c of conns) await c.close();
  });

  it("uploads in chunks, commits without reading the bytes back, and serves any byte range of exactly those bytes", async () => {
    const data = randomBytes(2 * MEDIA_CHUNK_BYTES + 12_345);
    const begun = right(await begin(a, data));
    expect(begun).toMatchObject({ chunkSize: MEDIA_CHUNK_BYTES, received: 0 });
    const parts = chunksOf(data);
    for (const [index, chunk] of parts.entries()) {
      expect(right(await a.media.chunk({ uploadId: begun.uploadId, index, data: chunk }))).toEqual({ received: index + 1 });
    }
    // Before the commit the chunks are stored but nothing names them.
    expect(await chunksStored(begun.uploadId)).not.toBeNull();
    const objectsBefore = await objectCount();
    const committed = await counting(admin, DIRECT_GET_CHUNKS, () => a.media.commit(begun.uploadId));
    const done = right(committed.value);
    expect(committed.count).toBe(0); // the digest was computed as the chunks arrived
    expect(done.size).toBe(data.length);
    expect(done.cap.length).toBe(32);
    expect(done.deleteToken.length).toBe(32);
    expect(Buffer.from(done.cap).equals(Buffer.from(done.deleteToken))).toBe(false);
    expect(await objectCount()).toBe(objectsBefore + 1);
    // The upload is finished: it cannot be committed again.
    expect(left(await a.media.commit(begun.uploadId)).code).toBe(MediaErrorCode.UnknownUpload);

    // It is an ordinary Object Store object: the library reads it back and checks its SHA-256.
    const info = await os.info(done.mediaId);
    expect(info).toMatchObject({ size: data.length, chunks: 3, deleted: false });
    expect(info!.digest).toBe(`SHA-256=${Buffer.from(sha256(data)).toString("base64url")}=`);
    expect(Buffer.from((await os.getBlob(done.mediaId))!).equals(data)).toBe(true);

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

  it("reads a range deep inside a large blob with one direct get (two across a chunk boundary), not from the start", async () => {
    const data = randomBytes(24 * MEDIA_CHUNK_BYTES + 99);
    const done = await upload(a, data);
    const cases: Array<[number, number, number]> = [
      [20 * MEDIA_CHUNK_BYTES + 5, 1000, 1],
      [23 * MEDIA_CHUNK_BYTES, MEDIA_CHUNK_BYTES, 1],
      [22 * MEDIA_CHUNK_BYTES - 10, 20, 2],
      [24 * MEDIA_CHUNK_BYTES + 50, 100, 1],
    ];
    for (const [offset, length, gets] of cases) {
      const r = await counting(admin, DIRECT_GET_CHUNKS, () => b.media.download({ mediaId: done.mediaId, cap: done.cap, offset, length }));
      expect(Buffer.from(right(r.value).data).equals(data.subarray(offset, offset + length))).toBe(true);
      expect(r.count).toBe(gets);
    }
    // The SDK's windowed download reads each chunk exactly once.
    const all = await counting(admin, DIRECT_GET_CHUNKS, () => downloadAll(b, done.mediaId, done.cap));
    expect(right(all.value).equals(data)).toBe(true);
    expect(all.count).toBe(25);
  });

  it("downloads with a bounded window of requests in flight, and resumes from an offset", async () => {
    const data = randomBytes(12 * MEDIA_CHUNK_BYTES + 7);
    const done = await upload(a, data);
    for (const window of [1, 3, 8]) {
      let inFlight = 0;
      let most = 0;
      const sub = admin.subscribe(requestSubject(Service.Media, "download", beta), {
        callback: () => {
          inFlight++;
          most = Math.max(most, inFlight);
        },
      });
      await admin.flush();
      const got: Buffer[] = [];
      right(
        await downloadCiphertext(
          b,
          done.mediaId,
          done.cap,
          (d) => {
            inFlight--; // a range is handed over only after its reply arrived
            got.push(Buffer.from(d));
          },
          { window },
        ),
      );
      sub.unsubscribe();
      expect(Buffer.concat(got).equals(data)).toBe(true);
      expect(most).toBeLessThanOrEqual(window);
      if (window > 1) expect(most).toBeGreaterThan(1);
    }
    // Resume from the middle of a chunk: the rest arrives, aligned to chunks after the first range.
    const from = 5 * MEDIA_CHUNK_BYTES + 1234;
    const offsets: number[] = [];
    const rest: Buffer[] = [];
    right(await downloadCiphertext(b, done.mediaId, done.cap, (d, off) => void (offsets.push(off), rest.push(Buffer.from(d))), { offset: from }));
    expect(Buffer.concat(rest).equals(data.subarray(from))).toBe(true);
    expect(offsets[0]).toBe(from);
    for (const off of offsets.slice(1)) expect(off % MEDIA_CHUNK_BYTES).toBe(0);
  });

  it("refuses a commit whose bytes do not match the digest and keeps nothing", async () => {
    const data = randomBytes(MEDIA_CHUNK_BYTES + 500);
    const objectsBefore = await objectCount();
    const { uploadId } = right(await begin(a, data, { digest: sha256(randomBytes(10)) }));
    for (const [index, chunk] of chunksOf(data).entries()) right(await a.media.chunk({ uploadId, index, data: chunk }));
    expect(await chunksStored(uploadId)).not.toBeNull();
    expect(left(await a.media.commit(uploadId)).code).toBe(MediaErrorCode.DigestMismatch);
    expect(await objectCount()).toBe(objectsBefore);
    expect(await chunksStored(uploadId)).toBeNull();
    expect(left(await a.media.commit(uploadId)).code).toBe(MediaErrorCode.UnknownUpload);
    expect(left(await a.media.chunk({ uploadId, index: 0, data: data.subarray(0, 10) })).code).toBe(MediaErrorCode.UnknownUpload);
    // A declaration that lies about the size (the bytes are a prefix of what was hashed) fails the same way.
    const whole = randomBytes(MEDIA_CHUNK_BYTES + 10);
    const lie = right(await begin(a, whole.subarray(0, MEDIA_CHUNK_BYTES), { digest: sha256(whole) }));
    right(await a.media.chunk({ uploadId: lie.uploadId, index: 0, data: whole.subarray(0, MEDIA_CHUNK_BYTES) }));
    expect(left(await a.media.commit(lie.uploadId)).code).toBe(MediaErrorCode.DigestMismatch);
    expect(await chunksStored(lie.uploadId)).toBeNull();
    expect(await objectCount()).toBe(objectsBefore);
  });

  it("answers a wrong capability and an unknown media id with the same unknown_media error", async () => {
    const data = randomBytes(1000);
    const done = await upload(a, data);
    const errs = [
      left(await b.media.download({ mediaId: done.mediaId, cap: randomBytes(32), offset: 0 })),
      left(await b.media.download({ mediaId: done.mediaId, cap: done.cap.subarray(0, 16), offset: 0 })),
      left(await b.media.download({ mediaId: done.mediaId, cap: Buffer.concat([done.cap, Buffer.from([0])]), offset: 0 })),
      left(await b.media.download({ mediaId: randomBytes(16).toString("base64url"), cap: done.cap, offset: 0 })),
      // The delete token is not a capability.
      left(await b.media.download({ mediaId: done.mediaId, cap: done.deleteToken, offset: 0 })),
      // An upload id is not a media id, even while its chunks are stored.
      left(await b.media.download({ mediaId: right(await begin(a, randomBytes(5))).uploadId, cap: done.cap, offset: 0 })),
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

    // Committing now is premature (a truncated upload).
    const early = left(await a.media.commit(uploadId));
    expect(early.code).toBe(MediaErrorCode.SizeMismatch);
    expect(early.details).toEqual({ received: 1 });

    right(await a.media.chunk({ uploadId, index: 1, data: parts[1]! }));
    // The last chunk may not be longer than what is left.
    expect(left(await a.media.chunk({ uploadId, index: 2, data: Buffer.concat([parts[2]!, Buffer.from([1])]) })).code).toBe(MediaErrorCode.SizeMismatch);
    expect(right(await a.media.chunk({ uploadId, index: 2, data: parts[2]! }))).toEqual({ received: 3 });
    // Nothing fits after the declared size.
    expect(left(await a.media.chunk({ uploadId, index: 3, data: Buffer.from([1]) })).code).toBe(MediaErrorCode.SizeMismatch);
    expect(left(await a.media.chunk({ uploadId, index: 5, data: Buffer.from([1]) })).code).toBe(MediaErrorCode.OutOfOrder);
    expect(right(await a.media.chunk({ uploadId, index: 1, data: parts[1]! }))).toEqual({ received: 3 });

    const done = right(await a.media.commit(uploadId));
    expect(right(await downloadAll(a, done.mediaId, done.cap)).equals(data)).toBe(true);
    // The refused chunks left nothing behind: the object is exactly its three chunks.
    expect((await os.info(done.mediaId))?.chunks).toBe(3);
    expect(Buffer.from((await os.getBlob(done.mediaId))!).equals(data)).toBe(true);
  });

  it("resumes an interrupted upload: begin with the same declaration answers the same upload and what it holds", async () => {
    const data = randomBytes(6 * MEDIA_CHUNK_BYTES + 3);
    const parts = chunksOf(data);
    const first = right(await begin(a, data));
    for (let i = 0; i < 4; i++) right(await a.media.chunk({ uploadId: first.uploadId, index: i, data: parts[i]! }));
    // The connection drops; the client begins again.
    expect(right(await begin(a, data))).toEqual({ uploadId: first.uploadId, chunkSize: MEDIA_CHUNK_BYTES, received: 4 });
    // Another declaration, or the same one from another provider, is another upload.
    expect(right(await begin(a, data, { kind: "video" })).uploadId).not.toBe(first.uploadId);
    expect(right(await begin(a, data, { digest: randomBytes(32) })).uploadId).not.toBe(first.uploadId);
    const other = right(await begin(b, data));
    expect(other.uploadId).not.toBe(first.uploadId);
    expect(other.received).toBe(0);

    // The SDK resumes by itself: it sends only the chunks the store lacks.
    const sent = await counting(admin, requestSubject(Service.Media, "chunk", alpha), () => uploadCiphertext(a, "file", data, sha256(data)));
    const done = right(sent.value);
    const indexes = sent.msgs.map((m) => (codec.decode(m.data) as E.Right<{ index: number }>).right.index).sort((x, y) => x - y);
    expect(indexes).toEqual([4, 5, 6]);
    expect(right(await downloadAll(b, done.mediaId, done.cap)).equals(data)).toBe(true);
    // Committed: the same declaration now starts afresh.
    expect(right(await begin(a, data)).received).toBe(0);
  });

  it("refuses an upload over the per-kind limit at begin", async () => {
    const over = left(await a.media.begin({ kind: "image", size: defaultMediaLimits.image + 1, digest: randomBytes(32) }));
    expect(over.code).toBe(MediaErrorCode.TooLarge);
    expect(over.details).toEqual({ limit: defaultMediaLimits.image });
    expect(left(await a.media.begin({ kind: "voice", size: defaultMediaLimits.voice + 1, digest: randomBytes(32) })).code).toBe(MediaErrorCode.TooLarge);
    expect(left(await a.media.begin({ kind: "video", size: defaultMediaLimits.video + 1, digest: randomBytes(32) })).code).toBe(MediaErrorCode.TooLarge);
    expect(left(await a.media.begin({ kind: "file", size: defaultMediaLimits.file + 1, digest: randomBytes(32) })).code).toBe(MediaErrorCode.TooLarge);
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

  it("lets only the uploading provider delete, with the delete token; then nothing is left", async () => {
    const data = randomBytes(3 * MEDIA_CHUNK_BYTES);
    const done = await upload(a, data);
    const nuid = (await os.info(done.mediaId))!.nuid;
    expect(await chunksStored(nuid)).not.toBeNull();
    const refused = [
      left(await a.media.delete({ mediaId: done.mediaId, token: done.cap })), // the capability is not enough
      left(await a.media.delete({ mediaId: done.mediaId, token: randomBytes(32) })),
      left(await b.media.delete({ mediaId: done.mediaId, token: done.deleteToken })), // a recipient's provider
      left(await a.media.delete({ mediaId: randomBytes(16).toString("base64url"), token: done.deleteToken })),
    ];
    for (const e of refused) expect(e).toEqual(refused[0]);
    expect(refused[0]!.code).toBe(MediaErrorCode.UnknownMedia);
    expect(right(await downloadAll(b, done.mediaId, done.cap)).equals(data)).toBe(true);

    right(await deleteAttachment(a, done.mediaId, done.deleteToken));
    expect(left(await b.media.download({ mediaId: done.mediaId, cap: done.cap, offset: 0 })).code).toBe(MediaErrorCode.UnknownMedia);
    expect(left(await a.media.delete({ mediaId: done.mediaId, token: done.deleteToken })).code).toBe(MediaErrorCode.UnknownMedia);
    expect(await os.info(done.mediaId)).toMatchObject({ deleted: true });
    expect(await chunksStored(nuid)).toBeNull();
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
      const badDelete = await raw.callRaw(requestSubject(Service.Media, "delete", alpha), codec.encode({ v: 1, mediaId: "a.b.c.d.e.f.g.h.i", token: new Uint8Array(32) }));
      expect(E.isLeft(badDelete) && badDelete.left.code).toBe(ErrorCode.BadRequest);
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
    const stored = right(await downloadAll(b, pointer.id, pointer.cap));
    expect(stored.length).toBeGreaterThan(plain.length);
    for (const off of [0, 1000, 1_000_000, plain.length - 32]) expect(stored.includes(plain.subarray(off, off + 32))).toBe(false);
    expect(stored.includes(Buffer.from(pointer.key.subarray(0, 16)))).toBe(false);

    for (const window of [1, 4, 16]) expect(Buffer.from(right(await downloadAttachment(b, pointer, { window }))).equals(plain)).toBe(true);

    // A pointer with a wrong key, digest or size does not decrypt.
    expect(left(await downloadAttachment(b, { ...pointer, key: randomBytes(pointer.key.length) })).code).toBe("mac_mismatch");
    expect(left(await downloadAttachment(b, { ...pointer, digest: randomBytes(32) })).code).toBe("digest_mismatch");
    expect(left(await downloadAttachment(b, { ...pointer, size: plain.length - 1 })).code).toBe(MediaErrorCode.SizeMismatch);
    expect(left(await downloadAttachment(b, { ...pointer, size: plain.length + 1 })).code).toBe(MediaErrorCode.SizeMismatch);
    expect(left(await downloadAttachment(b, { ...pointer, size: 2 ** 40 })).code).toBe(MediaErrorCode.SizeMismatch);
    expect(left(await downloadAttachment(b, { ...pointer, key: randomBytes(32) })).code).toBe("invalid_key");
    expect(left(await downloadAttachment(b, { ...pointer, cap: randomBytes(32) })).code).toBe(MediaErrorCode.UnknownMedia);

    // The uploader's token deletes it.
    const owned = right(await uploadAttachmentWithToken(a, "image", randomBytes(5000), { mime: "image/png", width: 10, height: 10 }));
    expect(Object.keys(owned.pointer)).not.toContain("deleteToken");
    right(await deleteAttachment(a, owned.pointer.id, owned.deleteToken));
    expect(left(await downloadAttachment(b, owned.pointer)).code).toBe(MediaErrorCode.UnknownMedia);
  });
});

describe("media-store with several instances", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  const services: RunningService[] = [];
  let a: InterlinkClient;
  let tap: NatsConnection;

  beforeAll(async () => {
    const secret = randomBytes(32);
    tap = await connect(topo().url);
    conns.push(tap);
    for (let i = 0; i < 3; i++) {
      const nc = await connect(topo().url);
      conns.push(nc);
      services.push(await startMediaStore({ nc, log: silentLogger, clock: systemClock, secret, replicas: 1 }));
      await nc.flush();
    }
    const nc = await connect(topo().url);
    conns.push(nc);
    a = new InterlinkClient(nc, alpha);
  });

  afterAll(async () => {
    a.close();
    for (const s of services) await s.stop();
    for (const c of conns) await c.close();
  });

  it("stores a windowed upload correctly when its chunks land on different instances", async () => {
    // Replies to alpha's requests, tapped: some chunks must have come back out_of_order.
    const errorCodes: string[] = [];
    const sub = tap.subscribe(`${inboxPrefix(alpha)}.>`, {
      callback: (_e, m) => {
        const r = codec.decode(m.data);
        if (E.isRight(r) && (r.right as { ok?: boolean }).ok === false) errorCodes.push((r.right as { error: { code: string } }).error.code);
      },
    });
    await tap.flush();
    for (let round = 0; round < 3; round++) {
      const plain = randomBytes(20 * MEDIA_CHUNK_BYTES + round);
      const pointer = right(await uploadAttachment(a, "file", plain, { mime: "application/octet-stream" }, { window: 8 }));
      expect(Buffer.from(right(await downloadAttachment(a, pointer, { window: 8 }))).equals(plain)).toBe(true);
    }
    await tap.flush();
    sub.unsubscribe();
    // Every instance took part, chunks did land out of order, and the SDK recovered each time.
    for (const s of services) expect(s.stats().ok).toBeGreaterThan(0);
    expect(errorCodes.length).toBeGreaterThan(0);
    expect(new Set(errorCodes)).toEqual(new Set([MediaErrorCode.OutOfOrder]));
    // After the first out_of_order the SDK goes one chunk at a time: at most one window's worth fails per upload.
    expect(errorCodes.length).toBeLessThanOrEqual(3 * 8);
  });
});
