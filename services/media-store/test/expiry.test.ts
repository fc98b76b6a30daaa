import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { JetStreamManager } from "@nats-io/jetstream";
import { connect, startSingle, useTopology, waitFor } from "@interlink/testing";
import type { RunningService, ServiceError } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import { InterlinkClient, MEDIA_CHUNK_BYTES, MediaErrorCode } from "@interlink/client";
import type { ProviderId } from "@interlink/subjects";
import {
  MAX_MEDIA_BYTES,
  MEDIA_BUCKET,
  MEDIA_INDEX_BUCKET,
  MEDIA_STREAM,
  UPLOADS_BUCKET,
  chunkSubject,
  defaultMediaLimits,
  mediaOptionsFromEnv,
  parseByteSize,
  resolveMediaOptions,
  startMediaStore,
} from "../src/index.js";

const alpha = "alpha" as ProviderId;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest();
const right = <T>(r: Either<ServiceError, T>): T => {
  if (E.isLeft(r)) throw new Error(`expected success, got ${r.left.code}: ${r.left.message}`);
  return r.right;
};
const left = <T>(r: Either<ServiceError, T>): ServiceError => {
  if (E.isRight(r)) throw new Error("expected an error");
  return r.left;
};

describe("media-store options", () => {
  it("reads limits, retention and upload TTL from the environment, and refuses nonsense", () => {
    expect(mediaOptionsFromEnv({})).toEqual({});
    expect(
      mediaOptionsFromEnv({
        INTERLINK_MEDIA_LIMIT_IMAGE: "10MiB",
        INTERLINK_MEDIA_LIMIT_VIDEO: "104857600",
        INTERLINK_MEDIA_LIMIT_FILE: "1g",
        INTERLINK_MEDIA_RETENTION_DAYS: "7",
        INTERLINK_MEDIA_UPLOAD_TTL_HOURS: "0.5",
      }),
    ).toEqual({
      limits: { image: 10 * 2 ** 20, video: 100 * 2 ** 20, file: 2 ** 30 },
      retentionMs: 7 * 24 * 3600 * 1000,
      uploadTtlMs: 1800 * 1000,
    });
    expect(() => mediaOptionsFromEnv({ INTERLINK_MEDIA_LIMIT_VOICE: "lots" })).toThrow(/INTERLINK_MEDIA_LIMIT_VOICE/);
    expect(() => mediaOptionsFromEnv({ INTERLINK_MEDIA_LIMIT_VOICE: "3GiB" })).toThrow(/voice/);
    expect(() => mediaOptionsFromEnv({ INTERLINK_MEDIA_RETENTION_DAYS: "-1" })).toThrow(/INTERLINK_MEDIA_RETENTION_DAYS/);
    expect(parseByteSize("256 KiB")).toBe(256 * 1024);
    expect(parseByteSize("1.5MiB")).toBeUndefined();
    expect(resolveMediaOptions().limits).toEqual(defaultMediaLimits);
    expect(() => resolveMediaOptions({ limits: { image: 0 } })).toThrow(RangeError);
    expect(() => resolveMediaOptions({ limits: { image: MAX_MEDIA_BYTES + 1 } })).toThrow(RangeError);
    expect(() => resolveMediaOptions({ retentionMs: 10 })).toThrow(RangeError);
  });
});

describe("media-store expiry, abandoned uploads and configured limits", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  let media: RunningService;
  let a: InterlinkClient;
  let jsm: JetStreamManager;
  const retentionMs = 2_000;
  const uploadTtlMs = 1_500;

  const chunksStored = async (nuid: string) => jsm.direct.getMessage(MEDIA_STREAM, { last_by_subj: chunkSubject(MEDIA_BUCKET, nuid) });

  beforeAll(async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    media = await startMediaStore(
      { nc, log: silentLogger, clock: systemClock, secret: randomBytes(32), replicas: 1 },
      { retentionMs, uploadTtlMs, sweepIntervalMs: 200, limits: { image: 4096, voice: 3 * MEDIA_CHUNK_BYTES } },
    );
    const c = await connect(topo().url);
    conns.push(c);
    a = new InterlinkClient(c, alpha);
    jsm = await jetstreamManager(c);
  });

  afterAll(async () => {
    a.close();
    await media.stop();
    for (const c of conns) await c.close();
  });

  it("sets the buckets' ages from the options", async () => {
    expect((await jsm.streams.info(MEDIA_STREAM)).config.max_age).toBe((retentionMs + uploadTtlMs) * 1e6);
    expect((await jsm.streams.info(`KV_${MEDIA_INDEX_BUCKET}`)).config.max_age).toBe(retentionMs * 1e6);
    expect((await jsm.streams.info(`KV_${UPLOADS_BUCKET}`)).config.max_age).toBe(2 * uploadTtlMs * 1e6);
  });

  it("applies the configured per-kind limits", async () => {
    const img = left(await a.media.begin({ kind: "image", size: 4097, digest: randomBytes(32) }));
    expect(img.code).toBe(MediaErrorCode.TooLarge);
    expect(img.details).toEqual({ limit: 4096 });
    right(await a.media.begin({ kind: "image", size: 4096, digest: randomBytes(32) }));
    expect(left(await a.media.begin({ kind: "voice", size: 3 * MEDIA_CHUNK_BYTES + 1, digest: randomBytes(32) })).code).toBe(MediaErrorCode.TooLarge);
    // Kinds not configured keep their defaults.
    right(await a.media.begin({ kind: "video", size: defaultMediaLimits.video, digest: randomBytes(32) }));
  });

  it("forgets committed media after the retention period, and the stream lets go of the bytes", async () => {
    const data = randomBytes(MEDIA_CHUNK_BYTES + 10);
    const { uploadId } = right(await a.media.begin({ kind: "file", size: data.length, digest: sha256(data) }));
    right(await a.media.chunk({ uploadId, index: 0, data: data.subarray(0, MEDIA_CHUNK_BYTES) }));
    right(await a.media.chunk({ uploadId, index: 1, data: data.subarray(MEDIA_CHUNK_BYTES) }));
    const done = right(await a.media.commit(uploadId));
    expect(Buffer.from(right(await a.media.download({ mediaId: done.mediaId, cap: done.cap, offset: 0, length: 10 })).data).equals(data.subarray(0, 10))).toBe(true);
    await waitFor(
      "media to expire",
      async () => {
        const r = await a.media.download({ mediaId: done.mediaId, cap: done.cap, offset: 0 });
        return E.isLeft(r) ? r.left : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    ).then((e) => expect(e.code).toBe(MediaErrorCode.UnknownMedia));
    await waitFor("expired chunks to leave the stream", async () => ((await chunksStored(uploadId)) === null ? true : undefined), { timeoutMs: 20_000, intervalMs: 250 });
  });

  it("forgets an abandoned upload after its TTL: unknown, chunks gone, and the same declaration starts afresh", async () => {
    const data = randomBytes(2 * MEDIA_CHUNK_BYTES);
    const decl = { kind: "file" as const, size: data.length, digest: sha256(data) };
    const { uploadId } = right(await a.media.begin(decl));
    right(await a.media.chunk({ uploadId, index: 0, data: data.subarray(0, MEDIA_CHUNK_BYTES) }));
    expect(await chunksStored(uploadId)).not.toBeNull();
    expect(right(await a.media.begin(decl))).toMatchObject({ uploadId, received: 1 });
    await waitFor("the sweeper to remove the chunks", async () => ((await chunksStored(uploadId)) === null ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    expect(left(await a.media.chunk({ uploadId, index: 1, data: data.subarray(MEDIA_CHUNK_BYTES) })).code).toBe(MediaErrorCode.UnknownUpload);
    expect(left(await a.media.commit(uploadId)).code).toBe(MediaErrorCode.UnknownUpload);
    const again = right(await a.media.begin(decl));
    expect(again.uploadId).not.toBe(uploadId);
    expect(again.received).toBe(0);
  });
});

describe("media-store expiry and sweeping on a clock the test controls", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  let media: RunningService;
  let a: InterlinkClient;
  let jsm: JetStreamManager;
  let offset = 0;
  const clock = { now: () => Date.now() + offset };
  const HOUR = 3600 * 1000;

  const chunksStored = async (nuid: string) => jsm.direct.getMessage(MEDIA_STREAM, { last_by_subj: chunkSubject(MEDIA_BUCKET, nuid) });

  beforeAll(async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    // Long TTLs on the server side: only the service's own clock can make things expire here.
    media = await startMediaStore({ nc, log: silentLogger, clock, secret: randomBytes(32), replicas: 1 }, { retentionMs: 2 * HOUR, uploadTtlMs: HOUR, sweepIntervalMs: 100 });
    const c = await connect(topo().url);
    conns.push(c);
    a = new InterlinkClient(c, alpha);
    jsm = await jetstreamManager(c);
  });

  afterAll(async () => {
    a.close();
    await media.stop();
    for (const c of conns) await c.close();
  });

  it("refuses a download and a delete once the media's time is up, although the index record is still stored", async () => {
    const data = randomBytes(1000);
    const { uploadId } = right(await a.media.begin({ kind: "file", size: data.length, digest: sha256(data) }));
    right(await a.media.chunk({ uploadId, index: 0, data }));
    const done = right(await a.media.commit(uploadId));
    offset += 2 * HOUR - 60_000;
    expect(Buffer.from(right(await a.media.download({ mediaId: done.mediaId, cap: done.cap, offset: 0 })).data).equals(data)).toBe(true);
    offset += 60_001;
    expect(left(await a.media.download({ mediaId: done.mediaId, cap: done.cap, offset: 0 })).code).toBe(MediaErrorCode.UnknownMedia);
    expect(left(await a.media.delete({ mediaId: done.mediaId, token: done.deleteToken })).code).toBe(MediaErrorCode.UnknownMedia);
    const kv = await new Kvm(conns[1]!).open(MEDIA_INDEX_BUCKET);
    expect((await kv.get(`m.${done.mediaId}`))?.operation).toBe("PUT");
  });

  it("sweeps an upload left unfinished past its TTL (the server's own ages are far longer)", async () => {
    const data = randomBytes(2 * MEDIA_CHUNK_BYTES);
    const { uploadId } = right(await a.media.begin({ kind: "file", size: data.length, digest: sha256(data) }));
    right(await a.media.chunk({ uploadId, index: 0, data: data.subarray(0, MEDIA_CHUNK_BYTES) }));
    // Not yet: a sweep or two pass and the chunk stays.
    await new Promise((r) => setTimeout(r, 400));
    expect(await chunksStored(uploadId)).not.toBeNull();
    offset += HOUR;
    await waitFor("the sweeper to remove the chunks", async () => ((await chunksStored(uploadId)) === null ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    const kv = await new Kvm(conns[1]!).open(UPLOADS_BUCKET);
    expect((await kv.get(`u.${uploadId}`))?.operation ?? "gone").not.toBe("PUT");
    expect(left(await a.media.chunk({ uploadId, index: 1, data: data.subarray(MEDIA_CHUNK_BYTES) })).code).toBe(MediaErrorCode.UnknownUpload);
  });
  it("brings existing buckets' ages in line when an instance starts with other options", async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    const other = await startMediaStore({ nc, log: silentLogger, clock, secret: randomBytes(32), replicas: 1 }, { retentionMs: 3 * HOUR, uploadTtlMs: 2 * HOUR });
    try {
      expect((await jsm.streams.info(MEDIA_STREAM)).config.max_age).toBe(5 * HOUR * 1e6);
      expect((await jsm.streams.info(`KV_${MEDIA_INDEX_BUCKET}`)).config.max_age).toBe(3 * HOUR * 1e6);
      expect((await jsm.streams.info(`KV_${UPLOADS_BUCKET}`)).config.max_age).toBe(4 * HOUR * 1e6);
    } finally {
      await other.stop();
    }
  });
});
