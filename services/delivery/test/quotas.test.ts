import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { startSingle, useTopology } from "@interlink/testing";
import { ErrorCode, Requester } from "@interlink/actor";
import type { ServiceError } from "@interlink/actor";
import { DeliveryLimit, InterlinkClient, NotifyResponseS } from "@interlink/client";
import { HUB_PROVIDER, Service, requestSubject } from "@interlink/subjects";
import type { Hub } from "./helpers.js";
import { alpha, beta, dev, drain, envelope, gamma, left, pullAll, register, right, sleep, startHub, user } from "./helpers.js";

const KIB = 1024;

describe("quotas and fairness", () => {
  const topo = useTopology(() => startSingle());
  let hub: Hub;
  let c: InterlinkClient;

  beforeAll(async () => {
    hub = await startHub(() => topo().url, {
      // alpha is held to 20 sends a second (a burst of 20); everyone else gets 10,000.
      quotas: { messagesPerSec: 10_000, perProvider: { [alpha]: { messagesPerSec: 20 } } },
      maxQueuedBytesPerDevice: 64 * KIB,
      queueFullRetryAfterMs: 5_000,
    });
    c = new InterlinkClient(await hub.conn(), gamma);
  });

  afterAll(async () => {
    c.close();
    await hub.stop();
  });

  it("answers rate_limited with a retry-after once a provider is over its messages per second, and admits it again later", async () => {
    const { a, b } = hub;
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1]);
    const results = await Promise.all(Array.from({ length: 60 }, () => a.delivery.send(envelope(alice, { provider: beta, user: bob }, regs))));
    const ok = results.filter(E.isRight).length;
    const refused = results.filter(E.isLeft).map((r) => r.left);
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const e of refused) {
      expect(e.code).toBe(ErrorCode.RateLimited);
      expect(e.retryable).toBe(true);
      expect(e.retryAfterMs).toBeGreaterThan(0);
      expect(e.details).toEqual({ limit: DeliveryLimit.ProviderMessages });
    }
    // Checked before decoding: over quota, even garbage is refused as rate_limited, not parsed.
    const raw = new Requester(hub.tap);
    try {
      const garbage = await Promise.all(
        Array.from({ length: 40 }, () => raw.callRaw(requestSubject(Service.Delivery, "send", alpha), new Uint8Array([0xc1, 0xff]))),
      );
      const codes = new Set(garbage.map((g) => (E.isLeft(g) ? g.left.code : "ok")));
      expect(codes.has(ErrorCode.RateLimited)).toBe(true);
      expect(codes.has("ok")).toBe(false);
    } finally {
      raw.close();
    }
    // Refused sends stored nothing.
    expect(await drain(b, bob, 1)).toHaveLength(ok);
    await sleep(1_000);
    right(await a.delivery.send(envelope(alice, { provider: beta, user: bob }, regs)));
    expect(hub.delivery.deliveryStats().limited).toBeGreaterThanOrEqual(refused.length);
  });

  it("keeps delivering another provider's messages while one provider floods", async () => {
    const { a, b } = hub;
    const alice = user("alice");
    const carol = user("carol");
    const bob = user("bob");
    const dan = user("dan");
    const bobRegs = await register(b, bob, [1]);
    const danRegs = await register(b, dan, [1]);
    let flooding = true;
    const floodResults: ServiceError[] = [];
    let floodOk = 0;
    const flood = Array.from({ length: 50 }, async () => {
      while (flooding) {
        const r = await a.delivery.send(envelope(alice, { provider: beta, user: bob }, bobRegs, () => randomBytes(256)));
        if (E.isRight(r)) floodOk++;
        else floodResults.push(r.left);
      }
    });
    const mine: Array<E.Either<ServiceError, unknown>> = [];
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const env = envelope(carol, { provider: beta, user: dan }, danRegs);
      ids.push(env.id);
      mine.push(await c.delivery.send(env));
    }
    flooding = false;
    await Promise.all(flood);
    expect(floodResults.length).toBeGreaterThan(0);
    expect(floodResults.every((e) => e.code === ErrorCode.RateLimited)).toBe(true);
    expect(mine.map((r) => (E.isLeft(r) ? r.left.code : "ok"))).toEqual(ids.map(() => "ok"));
    expect((await drain(b, dan, 1)).map((m) => m.id)).toEqual(ids);
    expect(await drain(b, bob, 1)).toHaveLength(floodOk);
  });

  it("refuses sends to a device whose queue is full, per device, until its messages are acked", async () => {
    const { b } = hub;
    const erin = user("erin");
    const bob = user("bob");
    const regs = await register(b, bob, [1, 2]);
    const to = { provider: beta, user: bob };
    const body = () => randomBytes(20 * KIB);
    // Three 20 KiB messages fit in 64 KiB; a fourth does not.
    for (let i = 0; i < 3; i++) right(await c.delivery.send(envelope(erin, to, regs, body)));
    const full = left(await c.delivery.send(envelope(erin, to, regs, body)));
    expect(full.code).toBe(ErrorCode.RateLimited);
    expect(full.retryAfterMs).toBe(5_000);
    expect(full.details).toEqual({ limit: DeliveryLimit.RecipientQueue, devices: [1, 2] });
    expect((await pullAll(b, bob, 2)).length).toBe(3);

    // Device 2 reads everything: only device 1 is full now, and the send still stores nothing.
    await drain(b, bob, 2);
    const one = left(await c.delivery.send(envelope(erin, to, regs, body)));
    expect(one.details).toEqual({ limit: DeliveryLimit.RecipientQueue, devices: [1] });
    expect(await pullAll(b, bob, 2)).toEqual([]);

    // Device 1 acks its oldest message: room for one more.
    const q1 = await pullAll(b, bob, 1);
    right(await b.delivery.ack({ user: bob, device: dev(1), seqs: [q1[0]!.seq] }));
    right(await c.delivery.send(envelope(erin, to, regs, body)));
    expect(left(await c.delivery.send(envelope(erin, to, regs, body))).code).toBe(ErrorCode.RateLimited);
    expect((await pullAll(b, bob, 1)).length).toBe(3);

    // Drained, the queue counts from zero again.
    await drain(b, bob, 1);
    await drain(b, bob, 2);
    for (let i = 0; i < 3; i++) right(await c.delivery.send(envelope(erin, to, regs, body)));
  });

  it("queues the hub's receipt messages whatever the queue holds, and counts them against nothing", async () => {
    const { b } = hub;
    const sam = user("sam");
    const erin = user("erin");
    const regs = await register(b, sam, [1]);
    const to = { provider: beta, user: sam };
    const internal = new Requester(await hub.conn(), { timeoutMs: 10_000 });
    // Two batches of 256 receipts with long ids: about 90 KiB, well over the 64 KiB queue limit.
    const long = (k: number) => `${"r".repeat(56)}${String(k).padStart(8, "0")}`;
    const batch = (n: number) => ({
      v: 1,
      id: `batch-${n}-${randomBytes(6).toString("hex")}`,
      to,
      sentAt: Date.now(),
      receipts: Array.from({ length: 256 }, (_, k) => ({
        id: long(k),
        status: "delivered",
        by: { provider: alpha, user: `${"u".repeat(56)}${String(k).padStart(8, "0")}`, device: 1 },
        at: Date.now(),
      })),
    });
    for (const n of [1, 2]) {
      const r = await internal.call(requestSubject(Service.Delivery, "notify", HUB_PROVIDER), batch(n), NotifyResponseS);
      expect(E.isRight(r) && r.right).toEqual({ stored: 1, duplicate: false });
    }
    internal.close();
    // The queue limit still sees an empty queue: three 20 KiB sends fit, a fourth does not.
    const body = () => randomBytes(20 * KIB);
    for (let i = 0; i < 3; i++) right(await c.delivery.send(envelope(erin, to, regs, body)));
    expect(left(await c.delivery.send(envelope(erin, to, regs, body))).details).toEqual({ limit: DeliveryLimit.RecipientQueue, devices: [1] });
    // Reading the Signal messages leaves the receipt messages queued, and the count back at zero.
    expect(await drain(b, sam, 1)).toHaveLength(3);
    const left2 = right(await b.delivery.pullAll({ user: sam, device: dev(1), max: 256 })).messages;
    expect(left2.map((m) => m.kind)).toEqual(["receipts", "receipts"]);
    for (let i = 0; i < 3; i++) right(await c.delivery.send(envelope(erin, to, regs, body)));
    expect(left(await c.delivery.send(envelope(erin, to, regs, body))).code).toBe(ErrorCode.RateLimited);
  });
});
