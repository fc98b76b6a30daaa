import { randomBytes } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import * as E from "fp-ts/lib/Either.js";
import type { RunningService } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import { InterlinkClient } from "@interlink/client";
import { KEYS_BUCKET, startKeyDirectory, syntheticUploads } from "@interlink/key-directory";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { Latency, closedLoop } from "../latency.js";
import { registerScenario } from "../registry.js";

const USERS = 64;
const PER_UPLOAD = 100;
/** Limits high enough never to bite: the buckets are still evaluated on every claim. */
const OPEN = { capacity: 1e9, perSecond: 1e9 };

/**
 * Bundle claims through key-directory (each one pops one EC and one Kyber one-time key with
 * compare-and-swap on the device's entry) against raw KV `update(key, value, revision)` of a
 * value the size of that entry, on the same server in the same run. Every served one-time key
 * id is collected per device: `duplicates` counts ids served twice.
 */
registerScenario("keys", async (ctx) => {
  const total = ctx.opts.count ?? 20_000;
  const conc = ctx.opts.concurrency ?? 64;
  const instances = ctx.opts.instances ?? 1;
  const batches = Math.max(1, Math.ceil(total / USERS / PER_UPLOAD));
  const pool = batches * PER_UPLOAD;
  const owner = "bench-owner" as ProviderId;
  const claimer = "bench-claimer" as ProviderId;
  const secret = randomBytes(32);

  const services: RunningService[] = [];
  for (let i = 0; i < instances; i++) {
    const nc = await ctx.connect(`bench-keys-svc-${i}`);
    services.push(
      await startKeyDirectory(
        { nc, log: silentLogger, clock: systemClock, secret, replicas: 1 },
        { instances, limits: { claimsPerTarget: OPEN, claimsPerProvider: OPEN, lookupsPerProvider: OPEN, missesPerProvider: OPEN } },
      ),
    );
    await nc.flush();
  }
  const up = new InterlinkClient(await ctx.connect("bench-keys-owner"), owner, { timeoutMs: 30_000 });
  const cl = new InterlinkClient(await ctx.connect("bench-keys-claimer"), claimer, { timeoutMs: 30_000 });
  const run = `${Date.now().toString(36)}`;
  const users = Array.from({ length: USERS }, (_, i) => `bench_${run}_${i}` as UserId);
  const device = 1 as DeviceId;

  // Setup (not measured): USERS devices with `pool` one-time keys of each kind.
  const uploads = syntheticUploads(batches, PER_UPLOAD);
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < USERS; i += 8) {
      const rs = await Promise.all(users.slice(i, i + 8).map((user) => up.keys.upload({ user, device, ...uploads[b]! })));
      for (const r of rs) if (E.isLeft(r)) throw new Error(`bench setup: upload failed (${r.left.code})`);
    }
  }

  // Baseline: raw CAS updates of a value as large as a device entry, each worker on its own key.
  const raw = await ctx.connect("bench-keys-raw");
  const kvm = new Kvm(raw);
  const keysKv = await kvm.open(KEYS_BUCKET);
  let entryBytes = 0;
  for await (const k of await keysKv.keys("dk.>")) {
    if (entryBytes === 0) entryBytes = (await keysKv.get(k))?.value.length ?? 0;
  }
  const rawKv = await kvm.create(`bench_keys_raw_${run}`, { replicas: 1, history: 1 });
  const value = new Uint8Array(Math.max(1, entryBytes)).fill(7);
  const baseline = async (): Promise<number> => {
    const revs = await Promise.all(Array.from({ length: conc }, (_, w) => rawKv.put(`w${w}`, value)));
    let next = 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      revs.map(async (rev, w) => {
        let r = rev;
        while (next < total) {
          next++;
          r = await rawKv.update(`w${w}`, value, r);
        }
      }),
    );
    return (total / Number(process.hrtime.bigint() - t0)) * 1e9;
  };

  const base1 = await baseline();

  const ecSeen = users.map(() => new Set<number>());
  const kyberSeen = users.map(() => new Set<number>());
  let duplicates = 0;
  let lastResort = 0;
  const lat = new Latency();
  const claims = await closedLoop(
    total,
    conc,
    async (i) => {
      const u = i % USERS;
      const r = await cl.keys.claim({ provider: owner, user: users[u]!, devices: [device] });
      if (E.isLeft(r)) return false;
      const b = r.right.bundles[0];
      if (b === undefined) return false;
      if (b.preKey === undefined) lastResort++;
      else if (ecSeen[u]!.has(b.preKey.id)) duplicates++;
      else ecSeen[u]!.add(b.preKey.id);
      if (b.kyberPreKey.id !== uploads[0]!.kyberLastResort.id) {
        if (kyberSeen[u]!.has(b.kyberPreKey.id)) duplicates++;
        else kyberSeen[u]!.add(b.kyberPreKey.id);
      }
      return true;
    },
    lat,
    ctx.progress,
  );

  const base2 = await baseline();
  const base = (base1 + base2) / 2;

  await rawKv.destroy().catch(() => undefined);
  // Leave nothing behind on a shared server (--nats): unregister the bench devices.
  for (let i = 0; i < USERS; i += 8) await Promise.all(users.slice(i, i + 8).map((user) => up.keys.remove({ user, device })));
  up.close();
  cl.close();
  for (const s of services) await s.stop();

  const distinct = ecSeen.reduce((n, s) => n + s.size, 0);
  return {
    scenario: "keys",
    throughput: claims.opsPerSec,
    baseline: base,
    baseline_name: `raw KV update with revision (CAS), ${value.length} B values, ${conc} in flight`,
    ratio: claims.opsPerSec / base,
    ...lat.percentilesMs(),
    errors: claims.errors,
    duplicates,
    lost: 0,
    instances,
    count: total,
    extra: {
      concurrency: conc,
      devices: USERS,
      one_time_keys_per_device: pool,
      one_time_served: distinct,
      last_resort_served: lastResort,
      entry_bytes: entryBytes,
      baseline_runs: [Math.round(base1), Math.round(base2)],
    },
  };
});
