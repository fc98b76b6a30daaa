import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startSingle, useTopology } from "@interlink/testing";
import type { RunningService } from "@interlink/actor";
import { ErrorCode, silentLogger } from "@interlink/actor";
import { InterlinkClient } from "@interlink/client";
import type { ProviderId, UserId } from "@interlink/subjects";
import { DEFAULT_LIMITS, TokenBuckets, perInstance, startKeyDirectory } from "../src/index.js";
import { ManualClock, alpha, beta, dev, freshDevice, gamma, left, right, uploadOf, user } from "./harness.js";

describe("token buckets", () => {
  it("admit a burst of capacity, then refill at the rate, and say how long to wait", () => {
    const clock = new ManualClock();
    const b = new TokenBuckets({ capacity: 3, perSecond: 2 }, clock);
    for (let i = 0; i < 3; i++) {
      expect(b.wait("k")).toBe(0);
      b.take("k");
    }
    expect(b.wait("k")).toBe(500);
    expect(b.wait("other")).toBe(0);
    clock.advance(499);
    expect(b.wait("k")).toBe(1);
    clock.advance(1);
    expect(b.wait("k")).toBe(0);
    // Never more than the capacity, however long it rested.
    clock.advance(3_600_000);
    expect(b.wait("k", 3)).toBe(0);
    expect(b.wait("k", 4)).toBe(500);
  });

  it("forget full buckets when there are too many, and only ever forgive when forgetting busy ones", () => {
    const clock = new ManualClock();
    const b = new TokenBuckets({ capacity: 1, perSecond: 1 }, clock, 10);
    for (let i = 0; i < 10; i++) b.take(`k${i}`);
    clock.advance(1_000);
    b.take("new");
    expect(b.size).toBe(1);
    for (let i = 0; i < 20; i++) b.take(`busy${i}`);
    expect(b.size).toBeLessThanOrEqual(10);
    for (let i = 0; i < 20; i++) expect(b.wait(`busy${i}`)).toBeLessThanOrEqual(1_000);
  });

  it("split a deployment-wide limit between instances", () => {
    expect(perInstance({ capacity: 30, perSecond: 0.5 }, 2)).toEqual({ capacity: 15, perSecond: 0.25 });
    expect(perInstance({ capacity: 2, perSecond: 1 }, 4)).toEqual({ capacity: 1, perSecond: 0.25 });
    for (const l of Object.values(DEFAULT_LIMITS)) expect(l.capacity).toBeGreaterThanOrEqual(1);
  });
});

describe("key-directory rate limits and enumeration", () => {
  const topo = useTopology(() => startSingle());
  const clock = new ManualClock();
  const conns: NatsConnection[] = [];
  const clients: InterlinkClient[] = [];
  let svc: RunningService;
  let a: InterlinkClient;
  let b: InterlinkClient;
  let g: InterlinkClient;
  const secret = randomBytes(32);

  const client = async (p: ProviderId) => {
    const nc = await connect(topo().url);
    conns.push(nc);
    const c = new InterlinkClient(nc, p);
    clients.push(c);
    return c;
  };
  const seeded = async (name: string, keys = 10): Promise<UserId> => {
    const u = user(name);
    right(await a.keys.upload(uploadOf(u, 1, freshDevice(keys, keys))));
    return u;
  };

  beforeAll(async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    // Two instances' worth of each budget, one instance running: it enforces half.
    svc = await startKeyDirectory(
      { nc, log: silentLogger, clock, secret, replicas: 1 },
      {
        instances: 2,
        limits: {
          claimsPerTarget: { capacity: 4, perSecond: 2 },
          claimsPerProvider: { capacity: 10, perSecond: 10 },
          lookupsPerProvider: { capacity: 8, perSecond: 2 },
          missesPerProvider: { capacity: 6, perSecond: 1 },
        },
      },
    );
    await nc.flush();
    a = await client(alpha);
    b = await client(beta);
    g = await client(gamma);
  });

  // Every test starts with full buckets.
  beforeEach(() => clock.advance(3_600_000));

  afterAll(async () => {
    for (const c of clients) c.close();
    await svc.stop();
    for (const c of conns) await c.close();
  });

  it("limits claims per (provider, target user) with a retryable rate_limited and its retry-after", async () => {
    const u = await seeded("target");
    const v = await seeded("target2");
    expect(right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!.preKey?.id).toBe(1);
    expect(right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!.preKey?.id).toBe(2);
    const err = left(await b.keys.claim({ provider: alpha, user: u, devices: [dev(1)] }));
    expect(err).toMatchObject({ code: ErrorCode.RateLimited, retryable: true, retryAfterMs: 1_000 });
    // Other targets of the same provider, and other providers on the same target, go on.
    right(await b.keys.claim({ provider: alpha, user: v }));
    right(await g.keys.claim({ provider: alpha, user: u }));
    clock.advance(999);
    expect(left(await b.keys.claim({ provider: alpha, user: u })).retryAfterMs).toBe(1);
    clock.advance(1);
    // The refused claims took nothing: beta's next key is the one after gamma's.
    expect(right(await b.keys.claim({ provider: alpha, user: u })).bundles[0]!.preKey?.id).toBe(4);
  });

  it("bounds prekey draining: a burst of claims by one provider takes at most its budget of one-time keys", async () => {
    const u = await seeded("drain", 40);
    const results = await Promise.all(Array.from({ length: 30 }, () => b.keys.claim({ provider: alpha, user: u })));
    const served = results.filter((r) => r._tag === "Right");
    const refused = results.filter((r) => r._tag === "Left" && r.left.code === ErrorCode.RateLimited);
    expect(served).toHaveLength(2);
    expect(refused).toHaveLength(28);
    expect(right(await a.keys.count({ user: u, device: dev(1) }))).toEqual({ preKeys: 38, kyberPreKeys: 38 });
    // Ten seconds later the burst is back, and no more than the burst.
    clock.advance(10_000);
    const later = await Promise.all(Array.from({ length: 30 }, () => b.keys.claim({ provider: alpha, user: u })));
    expect(later.filter((r) => r._tag === "Right")).toHaveLength(2);
  });

  it("limits claims per provider over all its targets", async () => {
    const users = await Promise.all(Array.from({ length: 6 }, (_, i) => seeded(`wide${i}`, 1)));
    for (const u of users.slice(0, 5)) right(await b.keys.claim({ provider: alpha, user: u }));
    expect(left(await b.keys.claim({ provider: alpha, user: users[5]! }))).toMatchObject({ code: ErrorCode.RateLimited, retryAfterMs: 200 });
    right(await g.keys.claim({ provider: alpha, user: users[5]! }));
  });

  it("throttles bulk device lookups per provider", async () => {
    const u = await seeded("lookup", 1);
    for (let i = 0; i < 4; i++) right(await b.keys.devices({ provider: alpha, user: u }));
    expect(left(await b.keys.devices({ provider: alpha, user: u }))).toMatchObject({ code: ErrorCode.RateLimited, retryAfterMs: 1_000 });
    right(await g.keys.devices({ provider: alpha, user: u }));
    clock.advance(1_000);
    right(await b.keys.devices({ provider: alpha, user: u }));
  });

  it("answers probes for users that do not exist like any miss, then throttles every lookup of the prober alike", async () => {
    const known = await seeded("known", 5);
    const misses = [
      left(await b.keys.claim({ provider: alpha, user: user("ghost") })),
      left(await b.keys.devices({ provider: alpha, user: user("ghost") })),
      left(await b.keys.claim({ provider: alpha, user: known, devices: [dev(7)] })),
    ];
    for (const m of misses) expect(m).toEqual({ _tag: "ServiceError", code: ErrorCode.NotFound, message: misses[0]!.message, retryable: false });
    // Out of misses: known and unknown users get the very same answer now.
    const throttled = [
      left(await b.keys.claim({ provider: alpha, user: known })),
      left(await b.keys.claim({ provider: alpha, user: user("ghost") })),
      left(await b.keys.devices({ provider: alpha, user: known })),
      left(await b.keys.devices({ provider: alpha, user: user("ghost") })),
    ];
    for (const t of throttled) expect(t).toEqual({ _tag: "ServiceError", code: ErrorCode.RateLimited, message: throttled[0]!.message, retryable: true, retryAfterMs: 2_000 });
    // The prober's throttling is its own.
    right(await g.keys.claim({ provider: alpha, user: known }));
    clock.advance(2_000);
    expect(right(await b.keys.devices({ provider: alpha, user: known })).devices).toHaveLength(1);
    // The throttled claims consumed nothing: beta gets the key after gamma's.
    expect(right(await b.keys.claim({ provider: alpha, user: known })).bundles[0]!.preKey?.id).toBe(2);
  });
});
