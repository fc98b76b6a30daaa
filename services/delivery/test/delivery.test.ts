import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { startSingle, useTopology } from "@interlink/testing";
import { ErrorCode, Requester } from "@interlink/actor";
import type { QueuedMessage } from "@interlink/client";
import {
  DeliveryErrorCode,
  InterlinkClient,
  MAX_DEVICE_CIPHERTEXT,
  MAX_SEND_REQUEST_BYTES,
  NewMessageEventS,
  SendResponseS,
} from "@interlink/client";
import { Service, eventSubject, requestSubject } from "@interlink/subjects";
import { createCodec, decodeWith } from "@interlink/wire";
import type { DeliveryService } from "../src/index.js";
import type { Hub } from "./helpers.js";
import { alpha, beta, dev, envelope, left, pullAll, drain, register, right, same, startHub, user } from "./helpers.js";

const codec = createCodec();

describe("delivery", () => {
  // A raised max_payload, so a request over delivery's own size limit reaches it.
  const topo = useTopology(() => startSingle({ maxPayload: 8 * 1024 * 1024 }));
  let hub: Hub;
  let delivery: DeliveryService;
  let a: InterlinkClient;
  let b: InterlinkClient;
  let tap: Hub["tap"];

  beforeAll(async () => {
    // A long device-list cache: only key-directory's change events can make it notice a change.
    hub = await startHub(() => topo().url, { deviceCacheTtlMs: 600_000 });
    ({ a, b, tap, delivery } = hub);
  });

  afterAll(async () => {
    await hub.stop();
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
      expect(right(await a.delivery.send(env))).toMatchObject({ stored: 2, duplicate: false });
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

  it("acks exactly the acknowledged messages: out of order, in part, twice, and never one that arrived after the pull", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1]);
    const to = { provider: beta, user: bob };
    const send = async () => {
      const env = envelope(alice, to, regs);
      right(await a.delivery.send(env));
      return env.id;
    };
    const ack = async (seqs: number[]) => right(await b.delivery.ack({ user: bob, device: dev(1), seqs })).acked;
    const ids = [await send(), await send(), await send(), await send()];

    let q = await pullAll(b, bob, 1);
    expect(q.map((m) => m.id)).toEqual(ids);
    expect(await ack([q[1]!.seq])).toBe(1);
    q = await pullAll(b, bob, 1);
    expect(q.map((m) => m.id)).toEqual([ids[0], ids[2], ids[3]]);
    expect(await ack([q[1]!.seq, q[0]!.seq])).toBe(2);
    q = await pullAll(b, bob, 1);
    expect(q.map((m) => m.id)).toEqual([ids[3]]);
    expect(await ack([q[0]!.seq, q[0]!.seq])).toBe(1);
    expect(await ack([q[0]!.seq])).toBe(0);

    // A message queued between a pull and its ack survives the ack.
    const five = await send();
    q = await pullAll(b, bob, 1);
    expect(q.map((m) => m.id)).toEqual([five]);
    const six = await send();
    expect(await ack(q.map((m) => m.seq))).toBe(1);
    expect((await pullAll(b, bob, 1)).map((m) => m.id)).toEqual([six]);

    // Acking the newest messages first (nats-server 2.9's file store then forgets the queue's last
    // sequence): the older ones are still handed out, and the queue keeps taking messages.
    const more = [six, await send(), await send()];
    q = await pullAll(b, bob, 1);
    expect(await ack([q[1]!.seq, q[2]!.seq])).toBe(2);
    expect((await pullAll(b, bob, 1)).map((m) => m.id)).toEqual([more[0]]);
    const nine = await send();
    expect((await drain(b, bob, 1)).map((m) => m.id)).toEqual([more[0], nine]);
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

  it("accepts a message id once: the same send again gets the first answer, other content under that id is refused", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1, 2]);
    const env = envelope(alice, { provider: beta, user: bob }, regs);
    const first = right(await a.delivery.send(env));
    expect(first).toMatchObject({ stored: 2, duplicate: false });
    expect(first.acceptedAt).toBeGreaterThan(0);
    const again = right(await a.delivery.send(env));
    expect(again).toEqual({ ...first, duplicate: true });

    // Same id, other ciphertexts (or another recipient): a typed error naming when the id was accepted.
    const other = left(await a.delivery.send({ ...env, messages: env.messages.map((m) => ({ ...m, body: randomBytes(10) })) }));
    expect(other.code).toBe(DeliveryErrorCode.MessageIdReused);
    expect(other.retryable).toBe(false);
    expect(other.details).toEqual({ acceptedAt: first.acceptedAt });
    for (const d of [1, 2]) {
      const q = await pullAll(b, bob, d);
      expect(q).toHaveLength(1);
      expect(same(q[0]!.body, env.messages.find((m) => m.device === d)!.body)).toBe(true);
    }
    // After delivery, a late retry is still answered, not stored again.
    for (const d of [1, 2]) await drain(b, bob, d);
    expect(right(await a.delivery.send(env))).toEqual({ ...first, duplicate: true });
    expect(await pullAll(b, bob, 1)).toEqual([]);

    // The same id from another sender is another message.
    const carol = user("carol");
    expect(right(await a.delivery.send({ ...env, from: { user: carol, device: dev(1) } })).duplicate).toBe(false);
    expect(await pullAll(b, bob, 1)).toHaveLength(1);
  });

  it("uses its cached device list until key-directory announces a change", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1]);
    const to = { provider: beta, user: bob };
    const before = delivery.deliveryStats().deviceCache;
    right(await a.delivery.send(envelope(alice, to, regs)));
    right(await a.delivery.send(envelope(alice, to, regs)));
    const after = delivery.deliveryStats().deviceCache;
    expect(after.fetches - before.fetches).toBe(1);
    expect(after.hits - before.hits).toBeGreaterThanOrEqual(1);

    // A new device: the cache (10 minutes here) would still accept a send without it, the event drops it.
    const regs2 = await register(b, bob, [2]);
    const missing = left(await a.delivery.send(envelope(alice, to, regs)));
    expect(missing.code).toBe(DeliveryErrorCode.MismatchedDevices);
    expect(missing.details).toEqual({ missing: [2], extra: [] });
    right(await a.delivery.send(envelope(alice, to, new Map([...regs, ...regs2]))));
    expect(await pullAll(b, bob, 2)).toHaveLength(1);
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

  it("refuses a ciphertext over 256 KiB, a request over the size limit and garbage, and keeps serving", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1]);
    const to = { provider: beta, user: bob };
    const big = left(await a.delivery.send(envelope(alice, to, regs, () => randomBytes(MAX_DEVICE_CIPHERTEXT + 1))));
    expect(big.code).toBe(ErrorCode.TooLarge);
    // Four devices of 256 KiB each are over the 1 MiB request limit, refused before decoding.
    const four = await register(b, user("dave"), [1, 2, 3, 4]);
    const huge = envelope(alice, to, four, () => randomBytes(MAX_DEVICE_CIPHERTEXT));
    expect(codec.encode({ v: 1, ...huge }).length).toBeGreaterThan(MAX_SEND_REQUEST_BYTES);
    const tooBig = left(await a.delivery.send(huge));
    expect(tooBig.code).toBe(ErrorCode.TooLarge);

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

  it("keeps a pull reply within one NATS message and says there is more", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const env = envelope(alice, { provider: beta, user: bob }, regs, () => randomBytes(MAX_DEVICE_CIPHERTEXT));
      right(await a.delivery.send(env));
      ids.push(env.id);
    }
    const page = right(await b.delivery.pull({ user: bob, device: dev(1), max: 256 }));
    expect(page.messages.length).toBeGreaterThan(0);
    expect(page.messages.length).toBeLessThan(5);
    expect(page.more).toBe(true);
    expect((await drain(b, bob, 1)).map((m) => m.id)).toEqual(ids);
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
