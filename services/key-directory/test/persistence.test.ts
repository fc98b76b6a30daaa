import { afterAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startCluster, startSingle, useTopology, waitFor } from "@interlink/testing";
import type { RunningService } from "@interlink/actor";
import { Requester, silentLogger, systemClock } from "@interlink/actor";
import { DevicesResponseS, InterlinkClient } from "@interlink/client";
import { Service, requestSubject } from "@interlink/subjects";
import { INTEREST_BUCKET, KEYS_BUCKET, startKeyDirectory } from "../src/index.js";
import { OPEN_LIMITS, alpha, beta, dev, freshDevice, right, uploadOf, user } from "./harness.js";

/** Connections that ride out a server restart. */
const reconnecting = (url: string | { urls: readonly string[] }) => connect(url, { reconnect: true });

describe("key-directory persistence", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  const clients: InterlinkClient[] = [];
  const services: RunningService[] = [];
  const secret = randomBytes(32);

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of services) await s.stop();
    for (const c of conns) await c.close();
  });

  it("keeps device lists, pools and claimed keys across a restart of nats-server and then of the service", async () => {
    const svcNc = await reconnecting(topo().url);
    const cNc = await reconnecting(topo().url);
    conns.push(svcNc, cNc);
    services.push(await startKeyDirectory({ nc: svcNc, log: silentLogger, clock: systemClock, secret, replicas: 1 }, { limits: OPEN_LIMITS }));
    await svcNc.flush();
    const a = new InterlinkClient(cNc, alpha);
    const b = new InterlinkClient(cNc, beta);
    clients.push(a, b);

    const u = user("durable");
    const d = freshDevice(4, 4);
    right(await a.keys.upload(uploadOf(u, 1, d)));
    expect(right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!.preKey?.id).toBe(1);

    await topo().servers[0]!.restart();
    // Read-only probes (short timeouts: one sent while reconnecting is lost) until the service
    // answers again, so no claim can be lost in the outage.
    const probe = new Requester(cNc, { timeoutMs: 300 });
    try {
      await waitFor("key-directory to answer after the server restart", async () => {
        const r = await probe.call(requestSubject(Service.Keys, "devices", beta), { v: 1, provider: alpha, user: u }, DevicesResponseS);
        return r._tag === "Right" ? r.right : undefined;
      });
    } finally {
      probe.close();
    }
    expect(right(await a.keys.count({ user: u, device: dev(1) }))).toEqual({ preKeys: 3, kyberPreKeys: 3 });
    expect(right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!.preKey?.id).toBe(2);

    // And a fresh instance on the restarted server reads the same state.
    await services.pop()!.stop();
    services.push(await startKeyDirectory({ nc: svcNc, log: silentLogger, clock: systemClock, secret, replicas: 1 }, { limits: OPEN_LIMITS }));
    await svcNc.flush();
    const x = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
    expect([x.preKey?.id, x.kyberPreKey.id]).toEqual([3, 4]);
    expect(right(await a.keys.devices({ provider: alpha, user: u })).devices).toEqual([{ device: 1, registrationId: d.registrationId }]);
  });
});

describe("key-directory on a 3-node cluster", () => {
  const topo = useTopology(() => startCluster());
  const conns: NatsConnection[] = [];
  const clients: InterlinkClient[] = [];
  const services: RunningService[] = [];

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of services) await s.stop();
    for (const c of conns) await c.close();
  });

  it("keeps its buckets with 3 replicas and serves claims with one server down", async () => {
    const secret = randomBytes(32);
    // One instance on each of two servers; the client on the third.
    for (const s of topo().servers.slice(0, 2)) {
      const nc = await reconnecting({ urls: [s.url, ...topo().urls.filter((x) => x !== s.url)] });
      conns.push(nc);
      services.push(await startKeyDirectory({ nc, log: silentLogger, clock: systemClock, secret, replicas: 3 }, { limits: OPEN_LIMITS }));
      await nc.flush();
    }
    const cNc = await reconnecting({ urls: [topo().urls[2]!, ...topo().urls.slice(0, 2)] });
    conns.push(cNc);
    const jsm = await jetstreamManager(cNc);
    for (const bucket of [KEYS_BUCKET, INTEREST_BUCKET]) expect((await jsm.streams.info(`KV_${bucket}`)).config.num_replicas).toBe(3);

    // Short timeouts: a request that went to the instance on the stopped server is retried soon.
    const a = new InterlinkClient(cNc, alpha, { timeoutMs: 1_000 });
    const b = new InterlinkClient(cNc, beta, { timeoutMs: 1_000 });
    clients.push(a, b);
    const u = user("replicated");
    right(await a.keys.upload(uploadOf(u, 1, freshDevice(3, 3))));
    expect(right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!.preKey?.id).toBe(1);

    // The first server goes away; its instance reconnects elsewhere and the quorum of two goes on.
    await topo().servers[0]!.stop();
    const served = [1];
    const next = await waitFor("a claim with one server down", async () => {
      const r = await b.keys.claim({ provider: alpha, user: u });
      return r._tag === "Right" ? r.right.bundles[0]! : undefined;
    });
    served.push(next.preKey!.id);
    const after = right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!;
    if (after.preKey !== undefined) served.push(after.preKey.id);
    // A claim whose reply was lost in the failover may have used a key up; none is served twice.
    expect(new Set(served).size).toBe(served.length);
    expect([...served].sort()).toEqual(served);
    expect(served.length + right(await a.keys.count({ user: u, device: dev(1) })).preKeys).toBeLessThanOrEqual(3);
  });
});
