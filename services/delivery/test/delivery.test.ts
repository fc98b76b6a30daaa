import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startSingle, useTopology } from "@interlink/testing";
import type { RunningService, ServiceEnv, ServiceError } from "@interlink/actor";
import { ErrorCode, Requester, silentLogger, systemClock } from "@interlink/actor";
import type { QueuedMessage, SendRequest } from "@interlink/client";
import { DeliveryErrorCode, InterlinkClient, MAX_DEVICE_CIPHERTEXT, NewMessageEventS, SendResponseS } from "@interlink/client";
import { generateDevice } from "@interlink/crypto";
import { startKeyDirectory } from "@interlink/key-directory";
import { startReceipt } from "@interlink/receipt";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { Service, eventSubject, requestSubject } from "@interlink/subjects";
import { createCodec, decodeWith } from "@interlink/wire";
import { startDelivery } from "../src/index.js";

const alpha = "alpha" as ProviderId;
const beta = "beta" as ProviderId;
const codec = createCodec();
const user = (name: string) => `${name}_${randomBytes(4).toString("hex")}` as UserId;
const dev = (n: number) => n as DeviceId;
let nextId = 0;
const msgId = () => `m${++nextId}_${randomBytes(4).toString("hex")}`;

const right = <T>(r: Either<ServiceError, T>): T => {
  if (E.isLeft(r)) throw new Error(`expected success, got ${r.left.code}: ${r.left.message}`);
  return r.right;
};
const left = <T>(r: Either<ServiceError, T>): ServiceError => {
  if (E.isRight(r)) throw new Error(`expected an error, got ${JSON.stringify(r.right)}`);
  return r.left;
};
const same = (x: Uint8Array, y: Uint8Array) => Buffer.from(x).equals(Buffer.from(y));

describe("delivery", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  const services: RunningService[] = [];
  const secret = randomBytes(32);
  let delivery: RunningService;
  let a: InterlinkClient;
  let b: InterlinkClient;
  let tap: NatsConnection;

  const conn = async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    return nc;
  };

  /** Registers `devices` of a user through key-directory; returns device → registrationId. */
  const register = async (c: InterlinkClient, u: UserId, devices: number[]) => {
    const regs = new Map<number, number>();
    for (const d of devices) {
      const keys = generateDevice({ preKeys: 1, kyberPreKeys: 0, now: Date.now() }).upload;
      right(await c.keys.upload({ user: u, device: dev(d), ...keys }));
      regs.set(d, keys.registrationId);
    }
    return regs;
  };

  const envelope = (
    from: UserId,
    to: { provider: ProviderId; user: UserId },
    regs: Map<number, number>,
    body: (device: number) => Uint8Array = () => randomBytes(64),
    id = msgId(),
  ): Omit<SendRequest, "v"> => ({
    id,
    from: { user: from, device: dev(1) },
    to,
    sentAt: Date.now(),
    messages: [...regs].map(([device, registrationId]) => ({ device: dev(device), registrationId, type: 2, body: body(device) })),
  });

  const pullAll = async (c: InterlinkClient, u: UserId, device: number): Promise<QueuedMessage[]> =>
    right(await c.delivery.pull({ user: u, device: dev(device), max: 256 })).messages;

  beforeAll(async () => {
    const env = async (): Promise<ServiceEnv> => ({ nc: await conn(), log: silentLogger, clock: systemClock, secret, replicas: 1 });
    services.push(await startKeyDirectory(await env()));
    services.push(await startReceipt(await env(), { batchWindowMs: 5 }));
    delivery = await startDelivery(await env());
    services.push(delivery);
    for (const nc of conns) await nc.flush();
    a = new InterlinkClient(await conn(), alpha);
    b = new InterlinkClient(await conn(), beta);
    tap = await conn();
  });

  afterAll(async () => {
    a.close();
    b.close();
    for (const s of services.reverse()) await s.stop();
    for (const c of conns) await c.close();
  });

  it("sends, pulls in FIFO order page by page, and acks per device", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1, 2]);
    const news: unknown[] = [];
    const sub = tap.subscribe(eventSubject(Service.Delivery, "new", beta), {
      callback: (_e, m) => {
        const ev = decodeWith(codec, NewMessageEventS, m.data);
        if (E.isRight(ev) && ev.right.user === bob) news.push(ev.right);
      },
    });
    await tap.flush();

    const sent: Array<{ id: string; bodies: Map<number, Uint8Array> }> = [];
    for (let i = 0; i < 5; i++) {
      const bodies = new Map([1, 2].map((d) => [d, randomBytes(40 + i)] as const));
      const env = envelope(alice, { provider: beta, user: bob }, regs, (d) => bodies.get(d)!);
      expect(right(await a.delivery.send(env))).toEqual({ stored: 2, duplicate: false });
      sent.push({ id: env.id, bodies });
    }

    // Device 1 reads two at a time, acking each page.
    const seen: QueuedMessage[] = [];
    const pages: boolean[] = [];
    for (let page = 0; page < 10; page++) {
      const r = right(await b.delivery.pull({ user: bob, device: dev(1), max: 2 }));
      pages.push(r.more);
      if (r.messages.length === 0) break;
      expect(r.messages.length).toBeLessThanOrEqual(2);
      seen.push(...r.messages);
      expect(right(await b.delivery.ack({ user: bob, device: dev(1), seqs: r.messages.map((m) => m.seq) }))).toEqual({ acked: r.messages.length });
    }
    expect(pages).toEqual([true, true, false, false]);
    expect(seen.map((m) => m.id)).toEqual(sent.map((s) => s.id));
    seen.forEach((m, i) => {
      expect(m.from).toEqual({ provider: alpha, user: alice, device: 1 });
      expect(m.type).toBe(2);
      expect(same(m.body, sent[i]!.bodies.get(1)!)).toBe(true);
    });

    // Device 2's queue is its own: still all five, with its own ciphertexts.
    const two = right(await b.delivery.pull({ user: bob, device: dev(2) }));
    expect(two.more).toBe(false);
    expect(two.messages.map((m) => m.id)).toEqual(sent.map((s) => s.id));
    two.messages.forEach((m, i) => expect(same(m.body, sent[i]!.bodies.get(2)!)).toBe(true));
    // Re-acking what was already acked changes nothing.
    expect(right(await b.delivery.ack({ user: bob, device: dev(1), seqs: seen.map((m) => m.seq) }))).toEqual({ acked: 0 });

    await tap.flush();
    for (let i = 0; i < 100 && news.length < 10; i++) await new Promise((r) => setTimeout(r, 20));
    sub.unsubscribe();
    expect(news).toHaveLength(10);
    expect(news.filter((n) => (n as { device: number }).device === 1)).toHaveLength(5);
  });

  it("answers mismatched_devices for a missing or an extra device, stale_devices for a re-registered one, and stores nothing", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1, 2]);
    const to = { provider: beta, user: bob };

    const missing = left(await a.delivery.send(envelope(alice, to, new Map([[1, regs.get(1)!]]))));
    expect(missing.code).toBe(DeliveryErrorCode.MismatchedDevices);
    expect(missing.details).toEqual({ missing: [2], extra: [] });

    const extra = left(await a.delivery.send(envelope(alice, to, new Map([...regs, [7, 123]]))));
    expect(extra.code).toBe(DeliveryErrorCode.MismatchedDevices);
    expect(extra.details).toEqual({ missing: [], extra: [7] });

    const both = left(await a.delivery.send(envelope(alice, to, new Map([[2, regs.get(2)!], [9, 1]]))));
    expect(both.details).toEqual({ missing: [1], extra: [9] });

    const wrongReg = (regs.get(2)! % 16_000) + 1;
    const stale = left(await a.delivery.send(envelope(alice, to, new Map([[1, regs.get(1)!], [2, wrongReg]]))));
    expect(stale.code).toBe(DeliveryErrorCode.StaleDevices);
    expect(stale.details).toEqual({ stale: [2] });

    // A device listed twice is a mismatch too.
    const twice = envelope(alice, to, regs);
    const dup = left(await a.delivery.send({ ...twice, messages: [...twice.messages, twice.messages[0]!] }));
    expect(dup.code).toBe(DeliveryErrorCode.MismatchedDevices);

    expect(await pullAll(b, bob, 1)).toEqual([]);
    expect(await pullAll(b, bob, 2)).toEqual([]);

    const nobody = left(await a.delivery.send(envelope(alice, { provider: beta, user: user("nobody") }, regs)));
    expect(nobody.code).toBe(DeliveryErrorCode.UnknownRecipient);

    // Re-registering device 2 makes the old registration id stale, the new one good.
    const regs2 = await register(b, bob, [2]);
    const afterRereg = left(await a.delivery.send(envelope(alice, to, regs)));
    expect(afterRereg.code).toBe(DeliveryErrorCode.StaleDevices);
    right(await a.delivery.send(envelope(alice, to, new Map([[1, regs.get(1)!], [2, regs2.get(2)!]]))));
    expect(await pullAll(b, bob, 2)).toHaveLength(1);
  });

  it("does not expect a copy for the sending device when a user writes to their own other devices", async () => {
    const alice = user("alice");
    const regs = await register(a, alice, [1, 2]);
    const to = { provider: alpha, user: alice };
    right(await a.delivery.send(envelope(alice, to, new Map([[2, regs.get(2)!]]))));
    const err = left(await a.delivery.send(envelope(alice, to, regs)));
    expect(err.details).toEqual({ missing: [], extra: [1] });
    expect(await pullAll(a, alice, 2)).toHaveLength(1);
    expect(await pullAll(a, alice, 1)).toEqual([]);
  });

  it("stores a message sent twice with the same id once and says so", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1, 2]);
    const env = envelope(alice, { provider: beta, user: bob }, regs);
    expect(right(await a.delivery.send(env))).toEqual({ stored: 2, duplicate: false });
    const again = right(await a.delivery.send({ ...env, messages: env.messages.map((m) => ({ ...m, body: randomBytes(10) })) }));
    expect(again.duplicate).toBe(true);
    for (const d of [1, 2]) {
      const q = await pullAll(b, bob, d);
      expect(q).toHaveLength(1);
      expect(same(q[0]!.body, env.messages.find((m) => m.device === d)!.body)).toBe(true);
    }
    // The same id from another sender is another message.
    const carol = user("carol");
    expect(right(await a.delivery.send({ ...env, from: { user: carol, device: dev(1) } })).duplicate).toBe(false);
    expect(await pullAll(b, bob, 1)).toHaveLength(2);
  });

  it("keeps every provider to its own users' queues", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1, 2]);
    right(await a.delivery.send(envelope(alice, { provider: beta, user: bob }, regs)));
    const mine = await pullAll(b, bob, 1);
    expect(mine).toHaveLength(1);

    // alpha asking for beta's bob by the same user id sees an empty queue ...
    expect(right(await a.delivery.pull({ user: bob, device: dev(1) }))).toEqual({ messages: [], more: false });
    // ... and cannot ack it away.
    expect(right(await a.delivery.ack({ user: bob, device: dev(1), seqs: mine.map((m) => m.seq) }))).toEqual({ acked: 0 });
    // Nor can bob's other device ack device 1's message.
    expect(right(await b.delivery.ack({ user: bob, device: dev(2), seqs: mine.map((m) => m.seq) }))).toEqual({ acked: 0 });
    // Sequences that do not exist are ignored.
    expect(right(await b.delivery.ack({ user: bob, device: dev(1), seqs: [9_999_999] }))).toEqual({ acked: 0 });
    expect((await pullAll(b, bob, 1)).map((m) => m.seq)).toEqual(mine.map((m) => m.seq));
    // The sender cannot pose as another provider's user either: `from` carries the subject's provider.
    expect(mine[0]!.from.provider).toBe(alpha);
  });

  it("refuses a ciphertext over 256 KiB and garbage with bad_request, and keeps serving", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1]);
    const to = { provider: beta, user: bob };
    const big = left(await a.delivery.send(envelope(alice, to, regs, () => randomBytes(MAX_DEVICE_CIPHERTEXT + 1))));
    expect(big.code).toBe(ErrorCode.BadRequest);

    const raw = new Requester(tap, { timeoutMs: 5000 });
    try {
      const subject = requestSubject(Service.Delivery, "send", alpha);
      const garbage = await raw.callRaw(subject, new Uint8Array([0xc1, 0x00, 0xff]));
      expect(E.isLeft(garbage) && garbage.left.code).toBe(ErrorCode.BadRequest);
      const deep = await raw.callRaw(subject, new Uint8Array([...Array(500).fill(0x91), 0xc0]));
      expect(E.isLeft(deep) && deep.left.code).toBe(ErrorCode.BadRequest);
      const wrongType = await raw.call(subject, { ...envelope(alice, to, regs), v: 1, sentAt: "yesterday" }, SendResponseS);
      expect(E.isLeft(wrongType) && wrongType.left.code).toBe(ErrorCode.BadRequest);
      const badType = await raw.call(subject, { v: 1, ...envelope(alice, to, regs), messages: [{ device: 1, registrationId: regs.get(1), type: 1, body: new Uint8Array(1) }] }, SendResponseS);
      expect(E.isLeft(badType) && badType.left.code).toBe(ErrorCode.BadRequest);
      const pullBad = await raw.callRaw(requestSubject(Service.Delivery, "pull", beta), codec.encode({ v: 1, user: "a.b", device: 1 }));
      expect(E.isLeft(pullBad) && pullBad.left.code).toBe(ErrorCode.BadRequest);
    } finally {
      raw.close();
    }
    expect(await pullAll(b, bob, 1)).toEqual([]);
    // Exactly the limit is fine.
    const env = envelope(alice, to, regs, () => randomBytes(MAX_DEVICE_CIPHERTEXT));
    right(await a.delivery.send(env));
    const q = await pullAll(b, bob, 1);
    expect(q).toHaveLength(1);
    expect(same(q[0]!.body, env.messages[0]!.body)).toBe(true);
    expect(delivery.stats().rejected).toBeGreaterThanOrEqual(5);
  });

  it("records a delivered receipt for the sender when the recipient's device acks", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1, 2]);
    const env = envelope(alice, { provider: beta, user: bob }, regs);
    right(await a.delivery.send(env));
    expect(right(await a.receipt.status({ user: alice, id: env.id })).receipts).toEqual([]);

    const q = await pullAll(b, bob, 1);
    const before = Date.now();
    expect(right(await b.delivery.ack({ user: bob, device: dev(1), seqs: q.map((m) => m.seq) }))).toEqual({ acked: 1 });
    const receipts = right(await a.receipt.status({ user: alice, id: env.id })).receipts;
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({ id: env.id, status: "delivered", by: { provider: beta, user: bob, device: 1 } });
    expect(receipts[0]!.at).toBeGreaterThanOrEqual(before - 1000);
    // Only the sender's provider can see them.
    expect(right(await b.receipt.status({ user: alice, id: env.id })).receipts).toEqual([]);

    const q2 = await pullAll(b, bob, 2);
    right(await b.delivery.ack({ user: bob, device: dev(2), seqs: q2.map((m) => m.seq) }));
    const both = right(await a.receipt.status({ user: alice, id: env.id })).receipts;
    expect(both.map((r) => r.by.device).sort()).toEqual([1, 2]);
  });
});
