import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { connect } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import type { RunningService } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import { InterlinkClient, decryptAttachment, deleteAttachment, downloadAttachment, encryptAttachment, uploadAttachmentWithToken } from "@interlink/client";
import { objectStoreRoundTrip, startMediaStore } from "@interlink/media-store";
import type { ProviderId } from "@interlink/subjects";
import { Latency } from "../latency.js";
import { registerScenario } from "../registry.js";

const MiB = 1024 * 1024;
const mbps = (bytes: number, ms: number): number => (ms > 0 ? Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10 : 0);
const round2 = (x: number): number => Math.round(x * 100) / 100;

const WORKER_ROLE = "interlink-bench-media-store";

/** A media-store instance on its own thread, as it would be in its own process on the hub. */
const startWorkerInstance = (url: string, secret: Uint8Array): Promise<{ stop(): Promise<void> }> =>
  new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { role: WORKER_ROLE, url, secret } });
    w.once("error", reject);
    w.once("message", (m) => {
      if (m !== "ready") return reject(new Error("media-store worker failed to start"));
      resolve({
        stop: () =>
          new Promise<void>((done) => {
            w.once("exit", () => done());
            w.postMessage("stop");
          }),
      });
    });
  });

if (!isMainThread && (workerData as { role?: string } | null)?.role === WORKER_ROLE) {
  const d = workerData as { url: string; secret: Uint8Array };
  void (async () => {
    const nc = await connect({ servers: d.url, name: "bench-media-store" });
    const svc = await startMediaStore({ nc, log: silentLogger, clock: systemClock, secret: d.secret, replicas: 1 });
    await nc.flush();
    parentPort!.once("message", () => {
      void (async () => {
        await svc.stop();
        await nc.drain();
        process.exit(0);
      })();
    });
    parentPort!.postMessage("ready");
  })();
}

/**
 * `interlink bench media`: one attachment of 16 MiB (INTERLINK_BENCH_MEDIA_MIB to change) per
 * round, `--count` rounds (default 5), `--concurrency` chunk requests in flight (default 4),
 * `--instances N` media-store instances, each on its own worker thread as it would be in its own
 * process on the hub (default 1); INTERLINK_BENCH_MEDIA_SAME_THREAD=1 runs one instance on the
 * bench's own thread instead, so the client also pays for the service's work.
 *
 * throughput: MB/s of encrypt + upload (begin, chunks, commit) + download + verify + decrypt, all
 * through the SDK and a real media-store. baseline: MB/s of a raw Object Store put + get of the
 * same plaintext bytes (native SHA-256, same chunk size), alternating with it in the same run.
 * extra.encrypt_ratio: the attachment cipher (AES-256-CBC + HMAC-SHA256 + SHA-256 digest) against
 * node:crypto's bare AES-256-CBC on the same bytes.
 */
registerScenario("media", async (ctx) => {
  const size = Math.round(Number(process.env["INTERLINK_BENCH_MEDIA_MIB"] ?? 16) * MiB);
  if (!Number.isSafeInteger(size) || size < 1) throw new Error("INTERLINK_BENCH_MEDIA_MIB must be a positive number");
  const rounds = ctx.opts.count ?? 5;
  const window = ctx.opts.concurrency ?? 4;
  const sameThread = process.env["INTERLINK_BENCH_MEDIA_SAME_THREAD"] === "1";
  const instances = sameThread ? 1 : (ctx.opts.instances ?? 1);
  const secret = randomBytes(32);
  const services: Array<Pick<RunningService, "stop">> = [];
  if (sameThread) {
    const nc = await ctx.connect("bench-media-store");
    services.push(await startMediaStore({ nc, log: silentLogger, clock: systemClock, secret, replicas: 1 }));
    await nc.flush();
  } else {
    for (let i = 0; i < instances; i++) services.push(await startWorkerInstance(ctx.url, secret));
  }
  const nc = await ctx.connect("bench-media-client");
  const client = new InterlinkClient(nc, "bench" as ProviderId);
  const plain = randomBytes(size);

  let errors = 0;
  let lost = 0;
  let upMs = 0;
  let downMs = 0;
  let putMs = 0;
  let getMs = 0;
  const lat = new Latency();
  try {
    // Warm-up of both paths (JIT, buckets, connections), not counted.
    const warm = randomBytes(MiB);
    await objectStoreRoundTrip(nc, "bench_raw", "warm", warm);
    const w = await uploadAttachmentWithToken(client, "video", warm, { mime: "video/mp4" }, { window });
    if (E.isRight(w)) {
      await downloadAttachment(client, w.right.pointer, { window });
      await deleteAttachment(client, w.right.pointer.id, w.right.deleteToken);
    }

    for (let r = 0; r < rounds; r++) {
      const raw = await objectStoreRoundTrip(nc, "bench_raw", `r${r}`, plain);
      putMs += raw.putMs;
      getMs += raw.getMs;
      if (!raw.ok) lost++;

      const t0 = process.hrtime.bigint();
      const up = await uploadAttachmentWithToken(client, "video", plain, { mime: "video/mp4", durationMs: 60_000 }, { window });
      const t1 = process.hrtime.bigint();
      if (E.isLeft(up)) {
        errors++;
        continue;
      }
      const down = await downloadAttachment(client, up.right.pointer, { window });
      const t2 = process.hrtime.bigint();
      lat.record(t0);
      upMs += Number(t1 - t0) / 1e6;
      downMs += Number(t2 - t1) / 1e6;
      if (E.isLeft(down)) errors++;
      else if (!Buffer.from(down.right).equals(plain)) lost++;
      await deleteAttachment(client, up.right.pointer.id, up.right.deleteToken);
      ctx.progress(r + 1, rounds);
    }
  } finally {
    client.close();
    for (const s of services) await s.stop();
  }

  // The cipher on its own, against node:crypto's bare AES-256-CBC, on the same bytes.
  const reps = 5;
  const key = randomBytes(64);
  const iv = randomBytes(16);
  const time = (f: () => void): number => {
    f(); // warm
    const t = performance.now();
    for (let i = 0; i < reps; i++) f();
    return performance.now() - t;
  };
  let ct: Uint8Array = new Uint8Array(0);
  let digest: Uint8Array = new Uint8Array(0);
  const encMs = time(() => {
    const a = encryptAttachment(plain, key, iv);
    ct = a.ciphertext;
    digest = a.digest;
  });
  const rawEncMs = time(() => {
    const c = createCipheriv("aes-256-cbc", key.subarray(0, 32), iv);
    c.update(plain);
    c.final();
  });
  const decMs = time(() => void decryptAttachment(ct, key, digest));
  const body = ct.subarray(16, ct.length - 32);
  const rawDecMs = time(() => {
    const d = createDecipheriv("aes-256-cbc", key.subarray(0, 32), iv);
    d.update(body);
    d.final();
  });

  const done = rounds - errors;
  const throughput = mbps(size * done, upMs + downMs);
  const baseline = mbps(size * rounds, putMs + getMs);
  return {
    scenario: "media",
    throughput,
    baseline,
    baseline_name: "MB/s: raw Object Store put+get of the same bytes (throughput: MB/s of encrypt+upload+download+decrypt)",
    ratio: baseline > 0 ? round2(throughput / baseline) : 0,
    ...lat.percentilesMs(),
    errors,
    duplicates: 0,
    lost,
    instances,
    count: rounds,
    extra: {
      unit: "MB/s",
      media_store: sameThread ? "same thread as the client" : `${instances} worker thread(s)`,
      size_bytes: size,
      window,
      upload_mb_s: mbps(size * done, upMs),
      download_mb_s: mbps(size * done, downMs),
      baseline_put_mb_s: mbps(size * rounds, putMs),
      baseline_get_mb_s: mbps(size * rounds, getMs),
      encrypt_mb_s: mbps(size * reps, encMs),
      raw_cipher_mb_s: mbps(size * reps, rawEncMs),
      encrypt_ratio: round2(rawEncMs / encMs),
      decrypt_mb_s: mbps(size * reps, decMs),
      raw_decipher_mb_s: mbps(size * reps, rawDecMs),
      decrypt_ratio: round2(rawDecMs / decMs),
    },
  };
});
