import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { nanos } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, startSingle, useTopology } from "@interlink/testing";
import type { ServiceError } from "@interlink/actor";
import { ErrorCode, Requester, silentLogger, systemClock } from "@interlink/actor";
import type { AckedRecord, ReceiptEvent } from "@interlink/client";
import { InterlinkClient, ReceiptEventS } from "@interlink/client";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { HUB_PROVIDER, Service, requestSubject } from "@interlink/subjects";
import { createCodec, decodeWith, s } from "@interlink/wire";
import type { ReceiptService } from "../src/index.js";
import { RECEIPTS_BUCKET, startReceipt } from "../src/index.js";

const alpha = "alpha" as ProviderId;
const beta = "beta" as ProviderId;
const codec = createCodec();
const RecordedS = s.object({ recorded: s.int({ min: 0 }) });
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

type Ack = AckedRecord["acks"][number];
const ack = (id: string, from: [ProviderId, UserId, number], by: [ProviderId, UserId, number], at = Date.now()): Ack => ({
  id,
  from: { provider: from[0], user: from[1], device: dev(from[2]) },
  by: { provider: by[0], user: by[1], device: dev(by[2]) },
  at,
});

describe("receipt", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  let receipt: ReceiptService;
  let hub: Requester;
  let a: InterlinkClient;
  let b: InterlinkClient;
  let tap: NatsConnection;
  /** Every receipt event seen, by the provider it was addressed to. */
  const events: Array<{ provider: string; event: ReceiptEvent }> = [];

  const conn = async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    return nc;
  };
  /** What delivery does when devices ack: ilk.receipt.v1.acked.hub, as the hub. */
  const acked = (acks: Ack[], as: ProviderId = HUB_PROVIDER) => hub.call(requestSubject(Service.Receipt, "acked", as), { v: 1, acks }, RecordedS);
  const eventsFor = (u: UserId) => events.filter((e) => e.event.user === u);
  const waitForReceipts = async (u: UserId, n: number) => {
    const count = () => eventsFor(u).reduce((k, e) => k + e.event.receipts.length, 0);
    for (let i = 0; i < 250 && count() < n; i++) await new Promise((r) => setTimeout(r, 20));
    return eventsFor(u);
  };

  beforeAll(async () => {
    const nc = await conn();
    // A wide window so that several separate acked calls surely fall into one batch. No delivery
    // runs here, so routing every batch fails (the tap below listens on everything, so it times
    // out rather than finding no responders): two short attempts each, then given up.
    receipt = await startReceipt(
      { nc, log: silentLogger, clock: systemClock, secret: randomBytes(32), replicas: 1 },
      { batchWindowMs: 400, routeAttempts: 2, routeTimeoutMs: 200 },
    );
    await nc.flush();
    tap = await conn();
    tap.subscribe(">", {
      callback: (_e, m) => {
        const prefix = "ilk.evt.receipt.v1.status.";
        if (!m.subject.startsWith(prefix)) return;
        const ev = decodeWith(codec, ReceiptEventS, m.data);
        if (E.isRight(ev)) events.push({ provider: m.subject.slice(prefix.length), event: ev.right });
      },
    });
    await tap.flush();
    hub = new Requester(await conn(), { timeoutMs: 5000 });
    a = new InterlinkClient(await conn(), alpha);
    b = new InterlinkClient(await conn(), beta);
  });

  afterAll(async () => {
    hub.close();
    a.close();
    b.close();
    await receipt.stop();
    for (const c of conns) await c.close();
  });

  it("records delivered per recipient device and sends one batched event to the sender's provider", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const id1 = msgId();
    const id2 = msgId();
    const t = 1_700_000_000_000;
    expect(right(await acked([ack(id1, [alpha, alice, 1], [beta, bob, 1], t), ack(id1, [alpha, alice, 1], [beta, bob, 2], t + 1)]))).toEqual({ recorded: 2 });
    expect(right(await acked([ack(id2, [alpha, alice, 2], [beta, bob, 1], t + 2)]))).toEqual({ recorded: 1 });

    const seen = await waitForReceipts(alice, 3);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.provider).toBe(alpha);
    expect(seen[0]!.event.receipts).toEqual([
      { id: id1, status: "delivered", by: { provider: beta, user: bob, device: 1 }, at: t },
      { id: id1, status: "delivered", by: { provider: beta, user: bob, device: 2 }, at: t + 1 },
      { id: id2, status: "delivered", by: { provider: beta, user: bob, device: 1 }, at: t + 2 },
    ]);

    // The sender's provider can query each message; each device reported once.
    const s1 = right(await a.receipt.status({ user: alice, id: id1 })).receipts;
    expect(s1.map((r) => [r.status, r.by.device])).toEqual([["delivered", 1], ["delivered", 2]]);
    expect(right(await a.receipt.status({ user: alice, id: id2 })).receipts).toHaveLength(1);
    // Another provider asking about the same user id and message id learns nothing.
    expect(right(await b.receipt.status({ user: alice, id: id1 })).receipts).toEqual([]);
    expect(right(await a.receipt.status({ user: alice, id: msgId() })).receipts).toEqual([]);
  });

  it("batches per sender: two senders on two providers get their own events", async () => {
    const alice = user("alice");
    const carol = user("carol");
    const dave = user("dave");
    const id = msgId();
    right(await acked([ack(id, [alpha, alice, 1], [alpha, dave, 1]), ack(id, [beta, carol, 1], [alpha, dave, 1])]));
    const forAlice = await waitForReceipts(alice, 1);
    const forCarol = await waitForReceipts(carol, 1);
    expect(forAlice.map((e) => e.provider)).toEqual([alpha]);
    expect(forCarol.map((e) => e.provider)).toEqual([beta]);
    expect(forCarol[0]!.event.receipts).toHaveLength(1);
    expect(right(await b.receipt.status({ user: carol, id })).receipts).toHaveLength(1);
    // alpha's alice and beta's carol are keyed apart even with the same message id.
    expect(right(await a.receipt.status({ user: carol, id })).receipts).toEqual([]);
  });

  it("refuses acked records from any provider, even about its own devices, recording none of it", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const id = msgId();
    const genuine = ack(id, [alpha, alice, 1], [beta, bob, 1]);
    // beta reporting its own device, and alpha forging beta's device: neither is the hub.
    for (const as of [beta, alpha]) expect(left(await acked([genuine], as)).code).toBe(ErrorCode.Forbidden);
    // Refused before decoding: garbage from a provider is forbidden too, not a bad request.
    const garbage = await hub.callRaw(requestSubject(Service.Receipt, "acked", beta), new Uint8Array([0xc1]));
    expect(E.isLeft(garbage) && garbage.left.code).toBe(ErrorCode.Forbidden);
    expect(right(await a.receipt.status({ user: alice, id })).receipts).toEqual([]);
    // The same record from the hub (delivery, which saw the device ack) is taken.
    expect(right(await acked([genuine]))).toEqual({ recorded: 1 });
    const seen = await waitForReceipts(alice, 1);
    expect(seen.flatMap((e) => e.event.receipts.map((r) => r.by))).toEqual([{ provider: beta, user: bob, device: 1 }]);
  });

  it("records a repeated ack once and sends it once", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const id = msgId();
    const one = ack(id, [alpha, alice, 1], [beta, bob, 3]);
    expect(right(await acked([one, one]))).toEqual({ recorded: 1 });
    expect(right(await acked([one]))).toEqual({ recorded: 0 });
    // A redelivered copy acked later (another timestamp) is still the same receipt.
    expect(right(await acked([{ ...one, at: one.at + 5000 }]))).toEqual({ recorded: 0 });
    expect(right(await a.receipt.status({ user: alice, id })).receipts).toHaveLength(1);
    // A second message id from the same sender makes the end of the batch observable.
    const later = msgId();
    right(await acked([ack(later, [alpha, alice, 1], [beta, bob, 3])]));
    const seen = await waitForReceipts(alice, 2);
    expect(seen.flatMap((e) => e.event.receipts.map((r) => r.id))).toEqual([id, later]);
  });

  it("answers malformed records with bad_request and keeps serving", async () => {
    const subject = requestSubject(Service.Receipt, "acked", HUB_PROVIDER);
    const garbage = await hub.callRaw(subject, new Uint8Array([0xc1, 0x92, 0x00]));
    expect(E.isLeft(garbage) && garbage.left.code).toBe(ErrorCode.BadRequest);
    const empty = await hub.call(subject, { v: 1, acks: [] }, RecordedS);
    expect(E.isLeft(empty) && empty.left.code).toBe(ErrorCode.BadRequest);
    const badId = await hub.call(subject, { v: 1, acks: [{ ...ack("x", [alpha, user("a"), 1], [beta, user("b"), 1]), id: "has space" }] }, RecordedS);
    expect(E.isLeft(badId) && badId.left.code).toBe(ErrorCode.BadRequest);
    const badStatus = await hub.callRaw(requestSubject(Service.Receipt, "status", alpha), codec.encode({ v: 1, user: "x.y", id: "m" }));
    expect(E.isLeft(badStatus) && badStatus.left.code).toBe(ErrorCode.BadRequest);
    expect(receipt.stats().rejected).toBeGreaterThanOrEqual(4);
    const alice = user("alice");
    const id = msgId();
    right(await acked([ack(id, [alpha, alice, 1], [beta, user("bob"), 1])]));
    expect(right(await a.receipt.status({ user: alice, id })).receipts).toHaveLength(1);
  });

  it("keeps its records in a KV bucket that expires them (30 days by default) at the configured replicas", async () => {
    const info = await (await jetstreamManager(conns[0]!)).streams.info(`KV_${RECEIPTS_BUCKET}`);
    expect(info.config.max_age).toBe(nanos(30 * 24 * 60 * 60 * 1000));
    expect(info.config.num_replicas).toBe(1);
  });

  it("gives a batch up when delivery cannot take it; its receipts stay queryable", async () => {
    const alice = user("alice");
    const id = msgId();
    const before = receipt.receiptStats().unrouted;
    right(await acked([ack(id, [alpha, alice, 1], [beta, user("bob"), 1])]));
    await waitForReceipts(alice, 1);
    for (let i = 0; i < 250 && receipt.receiptStats().unrouted === before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(receipt.receiptStats().unrouted).toBeGreaterThan(before);
    expect(receipt.receiptStats().routed).toBe(0);
    expect(right(await a.receipt.status({ user: alice, id })).receipts.map((r) => r.id)).toEqual([id]);
  });
});
