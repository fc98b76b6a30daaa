import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import { startSingle, useTopology } from "@interlink/testing";
import { ErrorCode, Requester } from "@interlink/actor";
import type { AckedRecord, InterlinkClient, NotifyRequest, PulledMessage, QueuedReceipts, Receipt } from "@interlink/client";
import { AckedRecordS, NotifyResponseS } from "@interlink/client";
import type { ProviderId, UserId } from "@interlink/subjects";
import { HUB_PROVIDER, Service, requestSubject } from "@interlink/subjects";
import { createCodec, decodeWith, s } from "@interlink/wire";
import type { Hub } from "./helpers.js";
import { alpha, beta, dev, drain, envelope, left, register, right, sleep, startHub, user } from "./helpers.js";

const codec = createCodec();

const pullEverything = async (c: InterlinkClient, u: UserId, device: number): Promise<PulledMessage[]> =>
  right(await c.delivery.pullAll({ user: u, device: dev(device), max: 256 })).messages;
const receiptsIn = (ms: readonly PulledMessage[]): Receipt[] =>
  ms.filter((m): m is QueuedReceipts => m.kind === "receipts").flatMap((m) => m.receipts);

describe("delivery: hub receipt messages", () => {
  const topo = useTopology(() => startSingle());
  let hub: Hub;
  let a: InterlinkClient;
  let b: InterlinkClient;
  let internal: Requester;
  /** Every acked record delivery handed to the receipt service, in order. */
  const ackedRecords: AckedRecord[] = [];

  const notify = (req: Omit<NotifyRequest, "v">, as: ProviderId = HUB_PROVIDER) =>
    internal.call(requestSubject(Service.Delivery, "notify", as), { v: 1, ...req }, NotifyResponseS);
  const receipt = (id: string, by: [ProviderId, UserId, number]): Receipt => ({
    id,
    status: "delivered",
    by: { provider: by[0], user: by[1], device: dev(by[2]) },
    at: Date.now(),
  });

  beforeAll(async () => {
    hub = await startHub(() => topo().url);
    ({ a, b } = hub);
    internal = new Requester(await hub.conn(), { timeoutMs: 10_000 });
    hub.tap.subscribe(requestSubject(Service.Receipt, "acked", HUB_PROVIDER), {
      callback: (_e, m) => {
        const r = decodeWith(codec, AckedRecordS, m.data);
        if (E.isRight(r)) ackedRecords.push(r.right);
      },
    });
    await hub.tap.flush();
  });

  afterAll(async () => {
    internal.close();
    await hub.stop();
  });

  it("routes the delivered receipts of a 3-device recipient to every device of the sender, as receipt messages only a receipts puller sees", async () => {
    const alice = user("alice");
    const bob = user("bob");
    await register(a, alice, [1, 2]);
    const regs = await register(b, bob, [1, 2, 3]);
    const env = envelope(alice, { provider: beta, user: bob }, regs);
    right(await a.delivery.send(env));
    for (const d of [1, 2, 3]) expect((await drain(b, bob, d)).map((m) => m.id)).toEqual([env.id]);

    // The receipt service batches the three acks and asks delivery to queue them for alice's devices.
    for (const d of [1, 2]) {
      let got: Receipt[] = [];
      for (let i = 0; i < 500 && got.length < 3; i++) {
        got = receiptsIn(await pullEverything(a, alice, d));
        if (got.length < 3) await sleep(20);
      }
      expect(got.map((r) => [r.id, r.status, r.by.provider, r.by.user, r.by.device]).sort()).toEqual([
        [env.id, "delivered", beta, bob, 1],
        [env.id, "delivered", beta, bob, 2],
        [env.id, "delivered", beta, bob, 3],
      ]);
    }
    // A puller that does not take receipt messages is never handed one.
    expect(right(await a.delivery.pull({ user: alice, device: dev(1) })).messages).toEqual([]);
  });

  it("reports nothing to the receipt service when a receipt message is acked", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const carol = user("carol");
    await register(a, alice, [1]);
    const regs = await register(b, bob, [1]);
    const env = envelope(alice, { provider: beta, user: bob }, regs);
    right(await a.delivery.send(env));
    await drain(b, bob, 1);
    let queued: PulledMessage[] = [];
    for (let i = 0; i < 500 && queued.length === 0; i++) {
      queued = await pullEverything(a, alice, 1);
      if (queued.length === 0) await sleep(20);
    }
    expect(queued.map((m) => m.kind)).toEqual(["receipts"]);
    expect(right(await a.delivery.ack({ user: alice, device: dev(1), seqs: queued.map((m) => m.seq) }))).toEqual({ acked: 1 });
    expect(await pullEverything(a, alice, 1)).toEqual([]);

    // A Signal message alice's device acks afterwards is reported: once its record is seen, the
    // record of the receipt message's ack would have been seen before it (one connection, in order).
    const devices = right(await b.keys.devices({ provider: alpha, user: alice })).devices;
    const later = envelope(carol, { provider: alpha, user: alice }, new Map(devices.map((d) => [d.device as number, d.registrationId])));
    right(await b.delivery.send(later));
    await drain(a, alice, 1);
    const byAlice = () => ackedRecords.flatMap((r) => r.acks).filter((x) => x.by.user === alice);
    for (let i = 0; i < 500 && byAlice().length === 0; i++) await sleep(20);
    expect(byAlice().map((x) => x.id)).toEqual([later.id]);
  });

  it("refuses notify from a provider; from the hub it is idempotent per batch id", async () => {
    const alice = user("alice");
    const bob = user("bob");
    await register(a, alice, [1, 2]);
    const batch = { id: `b${randomBytes(8).toString("hex")}`, to: { provider: alpha, user: alice }, sentAt: Date.now(), receipts: [receipt("m1", [beta, bob, 1])] };
    for (const p of [alpha, beta]) expect(left(await notify(batch, p)).code).toBe(ErrorCode.Forbidden);
    expect(await pullEverything(a, alice, 1)).toEqual([]);

    expect(right(await notify(batch))).toEqual({ stored: 2, duplicate: false });
    expect(right(await notify(batch))).toEqual({ stored: 2, duplicate: true });
    for (const d of [1, 2]) {
      const q = await pullEverything(a, alice, d);
      expect(q).toHaveLength(1);
      expect(q[0]).toMatchObject({ kind: "receipts", id: batch.id, sentAt: batch.sentAt, receipts: batch.receipts });
    }
    // A sender with no registered device: nothing to queue, not an error.
    expect(right(await notify({ ...batch, id: "b-nobody", to: { provider: alpha, user: user("ghost") } }))).toEqual({ stored: 0, duplicate: false });
    // Validated like every request.
    const bad = await internal.call(requestSubject(Service.Delivery, "notify", HUB_PROVIDER), { v: 1, ...batch, receipts: [] }, s.unknown());
    expect(E.isLeft(bad) && bad.left.code).toBe(ErrorCode.BadRequest);
  });
});
