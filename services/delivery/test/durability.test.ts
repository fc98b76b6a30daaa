import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { headers } from "@nats-io/transport-node";
import { startSingle, useTopology } from "@interlink/testing";
import { DeliveryErrorCode } from "@interlink/client";
import { createCodec } from "@interlink/wire";
import type { StoredMessage } from "../src/index.js";
import { DELIVERY_STREAM, QUEUED_HEADER, acceptToken, copyMsgId, deviceQueueSubject } from "../src/index.js";
import type { Hub } from "./helpers.js";
import { alpha, beta, dev, drain, envelope, left, pullAll, register, retrying, right, same, sleep, startHub, user } from "./helpers.js";

const DEDUPE_WINDOW_MS = 200;

describe("exactly-once acceptance across restarts", () => {
  const topo = useTopology(() => startSingle());
  let hub: Hub;

  beforeAll(async () => {
    // A tiny JetStream duplicate window: past it, only the acceptance record can recognise a retry.
    hub = await startHub(() => topo().url, { dedupeWindowMs: DEDUPE_WINDOW_MS }, { reconnect: true, clientTimeoutMs: 1_500 });
  });

  afterAll(async () => {
    await hub.stop();
  });

  it("stores a send repeated after the dedupe window, a delivery restart and a nats-server restart once, with the same answer", async () => {
    const { a, b } = hub;
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1, 2]);
    const env = envelope(alice, { provider: beta, user: bob }, regs);
    const first = right(await a.delivery.send(env));
    expect(first).toMatchObject({ stored: 2, duplicate: false });

    await sleep(4 * DEDUPE_WINDOW_MS);
    await hub.restartDelivery();
    expect(right(await a.delivery.send(env))).toEqual({ ...first, duplicate: true });

    await topo().servers[0]!.restart();
    // Clients reconnect (a request written to the old socket is lost and times out); JetStream
    // needs a moment before it answers again.
    expect(right(await retrying(() => a.delivery.send(env)))).toEqual({ ...first, duplicate: true });
    const reused = left(await retrying(() => a.delivery.send({ ...env, sentAt: env.sentAt + 1 })));
    expect(reused.code).toBe(DeliveryErrorCode.MessageIdReused);

    for (const d of [1, 2]) {
      const q = await drain(b, bob, d);
      expect(q.map((m) => m.id)).toEqual([env.id]);
      expect(same(q[0]!.body, env.messages.find((m) => m.device === d)!.body)).toBe(true);
    }
    // Delivered and acked, the id is still known: a late retry stores nothing.
    expect(right(await retrying(() => a.delivery.send(env)))).toEqual({ ...first, duplicate: true });
    expect(await pullAll(b, bob, 1)).toEqual([]);
  });

  it("stores a retry once when an instance died between queueing the copies and recording the acceptance", async () => {
    const { a, b, secret } = hub;
    const alice = user("alice");
    const bob = user("bob");
    const regs = await register(b, bob, [1, 2]);
    const env = envelope(alice, { provider: beta, user: bob }, regs, () => randomBytes(32));
    // What a crashed instance left behind: device 1's copy queued, device 2's not, no acceptance record.
    const m1 = env.messages[0]!;
    const stored: StoredMessage = {
      v: 1,
      id: env.id,
      from: { provider: alpha, user: alice, device: dev(1) },
      to: { provider: beta, user: bob, device: m1.device },
      sentAt: env.sentAt,
      type: m1.type,
      body: m1.body,
    };
    const data = createCodec().encode(stored);
    const h = headers();
    h.set("Nats-Msg-Id", copyMsgId(acceptToken(secret, alpha, alice, env.id), 1, m1.device));
    h.set(QUEUED_HEADER, String(data.length));
    const nc = await hub.conn();
    const ack = await nc.request(deviceQueueSubject(secret, beta, bob, m1.device), data, { headers: h, timeout: 5_000 });
    expect(new TextDecoder().decode(ack.data)).toContain(DELIVERY_STREAM);

    const answer = right(await retrying(() => a.delivery.send(env)));
    expect(answer.stored).toBe(2);
    expect(right(await a.delivery.send(env))).toEqual({ ...answer, duplicate: true });
    for (const d of [1, 2]) expect((await drain(b, bob, d)).map((m) => m.id)).toEqual([env.id]);
  });
});
