import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startCluster, useTopology, waitFor } from "@interlink/testing";
import type { RunningService } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import type { SendRequest } from "@interlink/client";
import { InterlinkClient } from "@interlink/client";
import { DELIVERY_STREAM, startDelivery } from "@interlink/delivery";
import { startKeyDirectory, syntheticUploads } from "@interlink/key-directory";
import { startReceipt } from "@interlink/receipt";
import type { UserId } from "@interlink/subjects";
import { alpha, beta, device, report, runPool, scaled, sleep, tag, user } from "./harness.js";

/**
 * The stream leader of ILK_DELIVERY (R3 on a 3-node cluster) is killed with SIGKILL mid-load.
 * Senders retry a refused or unanswered send with the same message id (so the same
 * `Nats-Msg-Id` per device copy); afterwards every queue is drained. Acknowledged (accepted)
 * messages must all be there, each once per device, and sending must resume on the two survivors.
 */
describe("kill -9 of the delivery stream's leader in a 3-node R3 cluster", () => {
  const topo = useTopology(() => startCluster());
  const conns: NatsConnection[] = [];
  const services: RunningService[] = [];
  const recipients: Array<{ user: UserId; regs: Map<number, number> }> = [];
  let a: InterlinkClient;
  let b: InterlinkClient;
  let admin: NatsConnection;

  const conn = async () => {
    const nc = await connect(topo(), { reconnect: true });
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    const env = { log: silentLogger, clock: systemClock, secret: randomBytes(32), replicas: 3 };
    services.push(await startKeyDirectory({ ...env, nc: await conn() }));
    services.push(await startDelivery({ ...env, nc: await conn() }));
    services.push(await startReceipt({ ...env, nc: await conn() }, { batchWindowMs: 10 }));
    a = new InterlinkClient(await conn(), alpha, { timeoutMs: 2_000 });
    b = new InterlinkClient(await conn(), beta, { timeoutMs: 5_000 });
    admin = await conn();
    const [upload] = syntheticUploads(1, 2);
    for (let i = 0; i < 4; i++) {
      const u = user("recipient");
      const regs = new Map<number, number>();
      for (const d of [1, 2]) {
        const r = await b.keys.upload({ user: u, device: device(d), ...upload!, registrationId: 100 + i * 2 + d });
        expect(E.isRight(r)).toBe(true);
        regs.set(d, 100 + i * 2 + d);
      }
      recipients.push({ user: u, regs });
    }
  });

  afterAll(async () => {
    a?.close();
    b?.close();
    for (const s of services.reverse()) await s.stop();
    for (const c of conns) await c.close();
  });

  it("loses no accepted message, stores none twice, and resumes accepting", async () => {
    const count = scaled(400);
    const run = tag();
    const sender = user("sender");
    const envs: Array<Omit<SendRequest, "v">> = Array.from({ length: count }, (_, i) => {
      const to = recipients[i % recipients.length]!;
      return {
        id: `r3-${run}-${i}`,
        from: { user: sender, device: device(1) },
        to: { provider: beta, user: to.user },
        sentAt: Date.now(),
        messages: [...to.regs].map(([d, registrationId]) => ({ device: device(d), registrationId, type: 2, body: randomBytes(200) })),
      };
    });
    const accepted = new Set<string>();
    const failed = new Map<string, string>();
    const errors: Record<string, number> = {};
    let attempts = 0;
    let killedAt = 0;
    let firstAfterKill = 0;
    let lastAcceptedAt = 0;
    let maxGapMs = 0;

    const load = runPool(count, 16, async (i) => {
      const env = envs[i]!;
      const end = Date.now() + 60_000;
      for (;;) {
        attempts++;
        const r = await a.delivery.send(env);
        if (E.isRight(r)) {
          const now = Date.now();
          if (lastAcceptedAt > 0) maxGapMs = Math.max(maxGapMs, now - lastAcceptedAt);
          lastAcceptedAt = now;
          if (killedAt > 0 && firstAfterKill === 0) firstAfterKill = now;
          accepted.add(env.id);
          return;
        }
        errors[r.left.code] = (errors[r.left.code] ?? 0) + 1;
        if (!r.left.retryable || Date.now() > end) {
          failed.set(env.id, r.left.code);
          return;
        }
        await sleep(Math.min(r.left.retryAfterMs ?? 100, 500));
      }
    });

    await waitFor("a quarter of the sends to be accepted", async () => (accepted.size >= count / 4 ? true : undefined), { intervalMs: 5, timeoutMs: 60_000 });
    const jsm = await jetstreamManager(admin);
    const leaderName = (await jsm.streams.info(DELIVERY_STREAM)).cluster?.leader;
    const leader = topo().servers.find((s) => s.serverName === leaderName);
    expect(leader).toBeDefined();
    const acceptedBeforeKill = accepted.size;
    killedAt = Date.now();
    leader!.kill("SIGKILL");
    await leader!.exited;
    await load;

    // Every queue, drained through delivery on the two surviving servers.
    const seen = new Map<string, number>();
    for (const r of recipients) {
      for (const d of r.regs.keys()) {
        for (;;) {
          const page = await b.delivery.pull({ user: r.user, device: device(d), max: 256 });
          if (E.isLeft(page)) {
            await sleep(200);
            continue;
          }
          if (page.right.messages.length === 0) break;
          for (const m of page.right.messages) seen.set(`${m.id}|${r.user}/${d}`, (seen.get(`${m.id}|${r.user}/${d}`) ?? 0) + 1);
          const ack = await b.delivery.ack({ user: r.user, device: device(d), seqs: page.right.messages.map((m) => m.seq) });
          if (E.isLeft(ack)) await sleep(200);
        }
      }
    }
    let lost = 0;
    for (const e of envs) if (accepted.has(e.id)) for (const m of e.messages) if (!seen.has(`${e.id}|${e.to.user}/${m.device}`)) lost++;
    const duplicates = [...seen.values()].filter((n) => n > 1).length;
    const unexpected = [...seen.keys()].filter((k) => !accepted.has(k.slice(0, k.indexOf("|")))).length;
    const figures = {
      sent: count,
      accepted: accepted.size,
      acceptedBeforeKill,
      failed: failed.size,
      attempts,
      errorsWhileFailingOver: errors,
      deviceCopies: [...seen.values()].reduce((n, x) => n + x, 0),
      lost,
      duplicates,
      unexpected,
      acceptedAfterKill: accepted.size - acceptedBeforeKill,
      /** The longest stretch without an accepted send: the fail-over. */
      outageMs: maxGapMs,
    };
    report("kill -9 stream leader, 3-node cluster, R3", figures);

    expect(failed.size).toBe(0);
    expect(accepted.size).toBe(count);
    expect(lost).toBe(0);
    expect(duplicates).toBe(0);
    expect(unexpected).toBe(0);
    // Sending resumed: sends were accepted after the kill.
    expect(firstAfterKill).toBeGreaterThan(0);
  });
});
