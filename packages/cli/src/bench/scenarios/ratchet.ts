import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { silentLogger, systemClock } from "@interlink/actor";
import type { ServiceEnv } from "@interlink/actor";
import type { DeviceAddress, QueuedMessage } from "@interlink/client";
import { InterlinkClient } from "@interlink/client";
import { startKeyDirectory } from "@interlink/key-directory";
import type { DeviceSecrets, SessionEngine } from "@interlink/session-ratchet";
import { LocalEngine, RatchetStore, Sessions, WorkerPoolEngine, startSessionRatchet } from "@interlink/session-ratchet";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { rawSignal } from "../baselines.js";
import { drive, driveExtra } from "../latency.js";
import { registerScenario } from "../registry.js";

/**
 * encrypt + decrypt through session-ratchet's session engine (actors, sealed KV state with
 * compare-and-swap, worker threads) against raw libsignal with in-memory stores on the same
 * number of threads, in the same run. Both sides start from an established conversation.
 */
registerScenario("ratchet", async (ctx) => {
  const workers = ctx.opts.workers ?? 1;
  const total = ctx.opts.count ?? 4_000;
  const pairs = ctx.opts.concurrency ?? 32;
  const SIZE = ctx.opts.size ?? 100;
  const provider = "bench" as ProviderId;
  const hub = await ctx.connect("bench-ratchet-hub");
  const secret = randomBytes(32);
  const atRestKey = randomBytes(32);
  const env: ServiceEnv = { nc: hub, log: silentLogger, clock: systemClock, secret, replicas: 1 };
  const keys = await startKeyDirectory(env);
  const edgeNc = await ctx.connect("bench-ratchet-edge");
  const client = new InterlinkClient(edgeNc, provider);
  // The service registers the devices (keys generated at the edge, public parts uploaded).
  const svc = await startSessionRatchet({ ...env, nc: edgeNc }, { provider, client, atRestKey, preKeys: 2 });
  const store = await RatchetStore.open(edgeNc, provider, secret, atRestKey, 1);
  const engine: SessionEngine =
    workers > 0
      ? await WorkerPoolEngine.start(workers, { servers: ctx.url, provider, secret, atRestKey, replicas: 1 }, () => undefined)
      : new LocalEngine(provider, client, store, new Sessions(store));

  const devices: Array<{ a: DeviceSecrets; b: DeviceSecrets; aAddr: DeviceAddress; bAddr: DeviceAddress }> = [];
  for (let i = 0; i < pairs; i++) {
    const tag = `${i}-${randomBytes(3).toString("hex")}`;
    const names = [`a${tag}`, `b${tag}`] as UserId[];
    const secrets: DeviceSecrets[] = [];
    for (const user of names) {
      const r = await client.ratchet.register({ user, device: 1 as DeviceId });
      if (E.isLeft(r)) throw new Error(`register: ${r.left.code}`);
      const d = await store.getDevice({ user, device: 1 as DeviceId });
      if (E.isLeft(d) || d.right === null) throw new Error("device not stored");
      secrets.push(d.right);
    }
    devices.push({
      a: secrets[0]!,
      b: secrets[1]!,
      aAddr: { provider, user: names[0]!, device: 1 as DeviceId },
      bAddr: { provider, user: names[1]!, device: 1 as DeviceId },
    });
  }
  const pt = new Uint8Array(SIZE).fill(42);
  let failures = 0;
  const pass = async (from: DeviceSecrets, to: DeviceSecrets, fromAddr: DeviceAddress, toAddr: DeviceAddress, seq: number): Promise<boolean> => {
    const c = await engine.encrypt(from, toAddr, pt, false);
    if (E.isLeft(c)) return false;
    const m: QueuedMessage = { seq, id: `m${seq}`, from: fromAddr, sentAt: Date.now(), type: c.right.type, body: c.right.body };
    const d = await engine.decrypt(to, m, async () => E.right(undefined));
    return E.isRight(d) && d.right === undefined;
  };
  // Establish each conversation both ways (PQXDH, then a reply), outside the measurement.
  for (const [i, p] of devices.entries()) {
    if (!(await pass(p.a, p.b, p.aAddr, p.bAddr, 2 * i + 1)) || !(await pass(p.b, p.a, p.bAddr, p.aAddr, 2 * i + 2))) failures++;
  }
  const run = await drive(ctx, { count: total, concurrency: pairs, unit: "messages" }, async (i) => {
    const p = devices[i % pairs]!;
    return pass(p.a, p.b, p.aAddr, p.bAddr, 1_000 + i);
  }, "session engine encrypt+decrypt");
  const raw = await rawSignal(workers, Math.max(total, run.done), SIZE);
  await engine.close();
  await svc.stop();
  await keys.stop();
  client.close();
  return {
    scenario: "ratchet",
    unit: "messages",
    load: run.load,
    throughput: run.opsPerSec,
    baseline: raw,
    baseline_name: `raw libsignal encrypt+decrypt, in-memory stores, ${workers === 0 ? "main thread" : `${workers} worker thread(s)`}`,
    ratio: run.opsPerSec / raw,
    ...run.latency.percentilesMs(),
    errors: run.errors + failures,
    duplicates: 0,
    lost: 0,
    instances: 1,
    count: run.done,
    duration_s: run.elapsedMs / 1000,
    extra: { ...driveExtra(run), workers, session_pairs: pairs, message_bytes: SIZE },
  };
});
