import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { startSingle, useTopology, waitFor } from "@interlink/testing";
import type { ExpiredEvent } from "@interlink/client";
import { ExpiredEventS } from "@interlink/client";
import { Service, eventSubject } from "@interlink/subjects";
import { createCodec, decodeWith } from "@interlink/wire";
import type { DeliveryService } from "../src/index.js";
import { DELIVERY_STREAM } from "../src/index.js";
import type { Hub } from "./helpers.js";
import { alpha, beta, dev, drain, envelope, pullAll, register, right, sleep, startHub, user } from "./helpers.js";

const RETENTION_MS = 1_200;
const codec = createCodec();

describe("expiry", () => {
  const topo = useTopology(() => startSingle());
  let hub: Hub;
  let second: DeliveryService;

  beforeAll(async () => {
    hub = await startHub(() => topo().url, { retentionMs: RETENTION_MS, sweepIntervalMs: 100 });
    // Two instances: one holds the sweeper lease, and each expiry is still reported once.
    second = await hub.addDelivery();
  });

  afterAll(async () => {
    await hub.stop();
  });

  it("reports a message no device acked within the retention to the sender's provider, once per device, and drops it", async () => {
    const { a, b, tap } = hub;
    const events: ExpiredEvent[] = [];
    const foreign: unknown[] = [];
    const sub = tap.subscribe(eventSubject(Service.Delivery, "expired", alpha), {
      callback: (_e, m) => {
        const ev = decodeWith(codec, ExpiredEventS, m.data);
        if (E.isRight(ev)) events.push(ev.right);
      },
    });
    const other = tap.subscribe(eventSubject(Service.Delivery, "expired", beta), { callback: (_e, m) => void foreign.push(m.subject) });
    await tap.flush();

    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1, 2]);
    const env = envelope(alice, { provider: beta, user: bob }, regs);
    right(await a.delivery.send(env));
    // Device 1 reads and acks in time; device 2 never comes.
    expect((await drain(b, bob, 1)).map((m) => m.id)).toEqual([env.id]);

    const ev = await waitFor("the expired event", async () => events.find((e) => e.id === env.id));
    expect(ev).toEqual({ v: 1, id: env.id, user: alice, to: { provider: beta, user: bob, device: 2 } });
    expect(await pullAll(b, bob, 2)).toEqual([]);
    expect([hub.delivery, second].filter((d) => d.deliveryStats().sweeping)).toHaveLength(1);

    // A message sent now is young: still there, and nothing more is reported for the first one.
    const later = envelope(alice, { provider: beta, user: bob }, regs);
    right(await a.delivery.send(later));
    expect((await drain(b, bob, 2)).map((m) => m.id)).toEqual([later.id]);
    await drain(b, bob, 1);
    await sleep(RETENTION_MS + 300);
    await tap.flush();
    sub.unsubscribe();
    other.unsubscribe();
    expect(events.filter((e) => e.id === env.id)).toHaveLength(1);
    expect(events.filter((e) => e.id === later.id)).toEqual([]);
    expect(foreign).toEqual([]);
  });

  it("hands the sweep over when the sweeping instance stops", async () => {
    const { a, b, tap } = hub;
    const [leader, other] = hub.delivery.deliveryStats().sweeping ? [hub.delivery, second] : [second, hub.delivery];
    await leader.stop();
    const events: ExpiredEvent[] = [];
    const sub = tap.subscribe(eventSubject(Service.Delivery, "expired", alpha), {
      callback: (_e, m) => {
        const ev = decodeWith(codec, ExpiredEventS, m.data);
        if (E.isRight(ev)) events.push(ev.right);
      },
    });
    await tap.flush();
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1]);
    const env = envelope(alice, { provider: beta, user: bob }, regs);
    right(await a.delivery.send(env));
    await waitFor("the expired event from the other instance", async () => events.find((e) => e.id === env.id));
    sub.unsubscribe();
    expect(other.deliveryStats().sweeping).toBe(true);
  });
});

describe("expiry without a sweeper", () => {
  const topo = useTopology(() => startSingle());
  let hub: Hub;

  beforeAll(async () => {
    hub = await startHub(() => topo().url, { retentionMs: RETENTION_MS, sweeper: false });
  });

  afterAll(async () => {
    await hub.stop();
  });

  it("does not hand out a message past the retention even while it is still in the stream", async () => {
    const { a, b } = hub;
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1]);
    right(await a.delivery.send(envelope(alice, { provider: beta, user: bob }, regs)));
    expect(await pullAll(b, bob, 1)).toHaveLength(1);
    await waitFor("the message to age out of pulls", async () => ((await pullAll(b, bob, 1)).length === 0 ? true : undefined));
    const jsm = await jetstreamManager(hub.tap);
    expect((await jsm.streams.info(DELIVERY_STREAM)).state.messages).toBe(1);
    expect(right(await b.delivery.pull({ user: bob, device: dev(1) })).more).toBe(false);
  });
});
