import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { nanos } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, startSingle, useTopology } from "@interlink/testing";
import type { RunningService, ServiceEnv, ServiceError } from "@interlink/actor";
import { ErrorCode, Requester, silentLogger, systemClock } from "@interlink/actor";
import type { InboundError, InboundMessage, InboundReceipts, PulledMessage, Receipt } from "@interlink/client";
import { InterlinkClient, NotifyRequestS, ProviderApp, RatchetErrorCode, ReceiptEventS } from "@interlink/client";
import { startDelivery } from "@interlink/delivery";
import { startKeyDirectory } from "@interlink/key-directory";
import { startReceipt } from "@interlink/receipt";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { HUB_PROVIDER, Service, requestSubject } from "@interlink/subjects";
import { createCodec, decodeWith, s } from "@interlink/wire";
import { startSessionRatchet } from "../src/index.js";
import { receiptPrefsBucket, sentLogBucket } from "../src/sent-log.js";

const alpha = "alpha" as ProviderId;
const beta = "beta" as ProviderId;
const gamma = "gamma" as ProviderId;
const codec = createCodec();
const dev = (n: number) => n as DeviceId;
/** Every user id made here, to look for in stored names and values. */
const users: string[] = [];
const uid = (name: string) => {
  const u = `${name}_${randomBytes(4).toString("hex")}` as UserId;
  users.push(u);
  return u;
};

const right = <T>(r: Either<ServiceError, T>): T => {
  if (E.isLeft(r)) throw new Error(`expected success, got ${r.left.code}: ${r.left.message}`);
  return r.right;
};

const waitUntil = async (cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> => {
  const until = Date.now() + ms;
  while (!(await cond()) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
};

/** What one provider's app saw. */
interface Seen {
  readonly messages: InboundMessage[];
  readonly receipts: InboundReceipts[];
  readonly errors: InboundError[];
}

describe.each([
  { workers: 0, label: "crypto on the main thread" },
  { workers: 2, label: "crypto on 2 worker threads" },
])("receipts end to end, real libsignal and nats-server ($label)", ({ workers }) => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  const services: RunningService[] = [];
  const secret = randomBytes(32);
  const atRestKey = randomBytes(32);
  const apps = new Map<ProviderId, ProviderApp>();
  const ratchets = new Map<ProviderId, RunningService>();
  const seen = new Map<ProviderId, Seen>();
  /** Every receipt that crossed the hub (routing requests and events): read/played must never be among them. */
  const onHub: Receipt[] = [];
  let env: ServiceEnv;

  const conn = async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    return nc;
  };
  const startRatchet = async (provider: ProviderId): Promise<RunningService> => {
    const nc = await conn();
    const svc = await startSessionRatchet({ ...env, nc }, { provider, client: new InterlinkClient(nc, provider), atRestKey, preKeys: 5, workers, natsServers: topo().url });
    services.push(svc);
    ratchets.set(provider, svc);
    return svc;
  };
  /** The provider's app: collects messages, receipts and error events (and acks them). */
  const startApp = async (provider: ProviderId): Promise<ProviderApp> => {
    const app = new ProviderApp(await conn(), provider);
    const s = seen.get(provider) ?? { messages: [], receipts: [], errors: [] };
    seen.set(provider, s);
    app.onMessage((m) => void s.messages.push(m));
    app.onReceipts((r) => void s.receipts.push(r));
    app.onError((e) => void s.errors.push(e));
    apps.set(provider, app);
    return app;
  };
  const app = (p: ProviderId) => apps.get(p)!;
  /** Receipts `user`'s app got for message `id`, one per (status, recipient device). */
  const receiptsAt = (p: ProviderId, user: UserId, id: string): Receipt[] => {
    const out = new Map<string, Receipt>();
    for (const r of seen.get(p)!.receipts) {
      if (r.user !== user) continue;
      for (const x of r.receipts) if (x.id === id) out.set(`${x.status}/${x.by.provider}/${x.by.user}/${x.by.device}`, x);
    }
    return [...out.values()];
  };
  const summary = (rs: readonly Receipt[]) => rs.map((r) => `${r.status}:${r.by.device}`).sort();
  const textsAt = (p: ProviderId, user: UserId) =>
    seen.get(p)!.messages.filter((m) => m.to.user === user).map((m) => (m.content.body.t === "text" ? m.content.body.text : `<${m.content.body.t}>`));

  beforeAll(async () => {
    const hub = await conn();
    env = { nc: hub, log: silentLogger, clock: systemClock, secret, replicas: 1 };
    services.push(await startKeyDirectory(env), await startDelivery(env), await startReceipt(env));
    const tap = await conn();
    tap.subscribe(requestSubject(Service.Delivery, "notify", HUB_PROVIDER), {
      callback: (_e, m) => {
        const r = decodeWith(codec, NotifyRequestS, m.data);
        if (E.isRight(r)) onHub.push(...r.right.receipts);
      },
    });
    tap.subscribe("ilk.evt.receipt.v1.status.*", {
      callback: (_e, m) => {
        const r = decodeWith(codec, ReceiptEventS, m.data);
        if (E.isRight(r)) onHub.push(...r.right.receipts);
      },
    });
    await tap.flush();
    for (const p of [alpha, beta, gamma]) await startApp(p);
    for (const p of [alpha, beta, gamma]) await startRatchet(p);
    for (const c of conns) await c.flush();
  });

  afterAll(async () => {
    for (const a of apps.values()) await a.close();
    for (const s of services.reverse()) await s.stop();
    for (const c of conns) await c.close();
  });

  const register = async (p: ProviderId, user: UserId, devices: number[]) => {
    for (const d of devices) right(await app(p).register(user, dev(d)));
  };

  it("collects 3 delivered and 1 read receipt at the sender for a message to a user with 3 devices", async () => {
    const ann = uid("ann");
    const bo = uid("bo");
    await register(alpha, ann, [1]);
    await register(beta, bo, [1, 2, 3]);
    const sent = right(await app(alpha).sendText({ user: ann, device: dev(1) }, { provider: beta, user: bo }, "hello, three devices"));
    expect(sent.devices).toBe(3);
    await waitUntil(() => seen.get(beta)!.messages.filter((m) => m.content.id === sent.id).length >= 3);
    expect(seen.get(beta)!.messages.filter((m) => m.content.id === sent.id).map((m) => m.to.device).sort()).toEqual([1, 2, 3]);

    // Bo reads it on device 2: an end-to-end receipt to ann (and a sync to bo's other devices).
    const read = right(await app(beta).markRead({ user: bo, device: dev(2) }, { provider: alpha, user: ann }, [sent.id]));
    expect(read.devices).toBe(1);
    await waitUntil(() => receiptsAt(alpha, ann, sent.id).length >= 4);
    expect(summary(receiptsAt(alpha, ann, sent.id))).toEqual(["delivered:1", "delivered:2", "delivered:3", "read:2"]);
    for (const r of receiptsAt(alpha, ann, sent.id)) expect(r.by).toMatchObject({ provider: beta, user: bo });
    // Handed to the app for ann's device, the one whose queue carried them.
    expect(new Set(seen.get(alpha)!.receipts.filter((r) => r.user === ann).map((r) => r.device))).toEqual(new Set([1]));

    // The sender's side can ask: delivered from the hub, read from the end-to-end receipt.
    const status = right(await app(alpha).receiptStatus(ann, sent.id));
    expect(status.to).toEqual({ provider: beta, user: bo });
    expect(summary(status.receipts)).toEqual(["delivered:1", "delivered:2", "delivered:3", "read:2"]);
    expect(status.receipts.every((r) => r.id === sent.id && r.by.user === bo)).toBe(true);

    // Bo's other devices learn what device 2 marked read (a sync copy), as an ordinary message.
    await waitUntil(() => seen.get(beta)!.messages.filter((m) => m.content.body.t === "receipt" && m.to.user === bo).length >= 2);
    const syncs = seen.get(beta)!.messages.filter((m) => m.content.body.t === "receipt" && m.to.user === bo);
    expect(syncs.map((m) => m.to.device).sort()).toEqual([1, 3]);
    expect(syncs[0]!.content.sentTo).toEqual({ provider: alpha, user: ann });

    // The hub carried the delivered receipts only: read status never crosses it.
    expect(onHub.some((r) => r.id === sent.id && r.status === "delivered")).toBe(true);
    expect(onHub.filter((r) => r.status !== "delivered")).toEqual([]);
  });

  it("keeps receipts for an offline sender and hands them over when its edge comes back", async () => {
    const cat = uid("cat");
    const dov = uid("dov");
    await register(gamma, cat, [1]);
    await register(beta, dov, [1, 2]);
    const sent = right(await app(gamma).sendText({ user: cat, device: dev(1) }, { provider: beta, user: dov }, "talk later"));

    // Gamma's edge goes away: its session-ratchet and its app.
    await ratchets.get(gamma)!.stop();
    await app(gamma).close();
    apps.delete(gamma);

    await waitUntil(() => seen.get(beta)!.messages.filter((m) => m.content.id === sent.id).length >= 2);
    right(await app(beta).markRead({ user: dov, device: dev(1) }, { provider: gamma, user: cat }, [sent.id]));

    // Everything waits in cat's device queue (pulled, not acked): both delivered receipts and the read receipt.
    const probe = new InterlinkClient(await conn(), gamma);
    let queued: PulledMessage[] = [];
    const delivered = () => queued.flatMap((m) => (m.kind === "receipts" ? m.receipts : [])).filter((r) => r.id === sent.id);
    await waitUntil(async () => {
      queued = right(await probe.delivery.pullAll({ user: cat, device: dev(1), max: 256 })).messages;
      return delivered().length >= 2 && queued.some((m) => m.kind !== "receipts" && m.from.user === dov);
    });
    probe.close();
    expect(delivered().map((r) => r.by.device).sort()).toEqual([1, 2]);
    expect(seen.get(gamma)!.receipts).toEqual([]);

    // Back: app first, then its edge, which drains what came in meanwhile.
    await startApp(gamma);
    for (const c of conns) await c.flush();
    await startRatchet(gamma);
    await waitUntil(() => receiptsAt(gamma, cat, sent.id).length >= 3);
    expect(summary(receiptsAt(gamma, cat, sent.id))).toEqual(["delivered:1", "delivered:2", "read:1"]);
  });

  it("rejects forged receipts: hub-internal calls from a provider, and end-to-end receipts for messages not sent to their sender", async () => {
    const ann = uid("ann");
    const bo = uid("bo");
    const eve = uid("eve");
    const fin = uid("fin");
    await register(alpha, ann, [1]);
    for (const u of [bo, eve, fin]) await register(beta, u, [1]);
    const from = { user: ann, device: dev(1) };
    const x = right(await app(alpha).sendText(from, { provider: beta, user: bo }, "for bo"));
    const y = right(await app(alpha).sendText(from, { provider: beta, user: fin }, "for fin"));
    await waitUntil(() => seen.get(beta)!.messages.filter((m) => m.content.id === x.id || m.content.id === y.id).length >= 2);

    // A provider posing as the hub: reporting "delivered" itself, or queuing receipt messages.
    const raw = new Requester(await conn(), { timeoutMs: 10_000 });
    const never = `never_${randomBytes(6).toString("hex")}`;
    const ackRecord = { v: 1, acks: [{ id: never, from: { provider: alpha, user: ann, device: 1 }, by: { provider: beta, user: bo, device: 1 }, at: Date.now() }] };
    const asBeta = await raw.call(requestSubject(Service.Receipt, "acked", beta), ackRecord, s.unknown());
    expect(E.isLeft(asBeta) && asBeta.left.code).toBe(ErrorCode.Forbidden);
    const notify = { v: 1, id: never, to: { provider: alpha, user: ann }, sentAt: Date.now(), receipts: [{ id: x.id, status: "read", by: { provider: beta, user: bo, device: 1 }, at: Date.now() }] };
    for (const p of [alpha, beta]) {
      const r = await raw.call(requestSubject(Service.Delivery, "notify", p), notify, s.unknown());
      expect(E.isLeft(r) && r.left.code).toBe(ErrorCode.Forbidden);
    }
    raw.close();
    expect(right(await app(alpha).receiptStatus(ann, never))).toEqual({ to: null, receipts: [] });

    // Eve never got x; a read receipt from her for x (and for an id that does not exist) is dropped.
    const byEve = right(await app(beta).markRead({ user: eve, device: dev(1) }, { provider: alpha, user: ann }, [x.id, never]));
    // Bo got x but not y: his receipt counts for x only.
    const byBo = right(await app(beta).markRead({ user: bo, device: dev(1) }, { provider: alpha, user: ann }, [x.id, y.id]));
    const forged = () => seen.get(alpha)!.errors.filter((e) => e.to.user === ann && e.code === RatchetErrorCode.ForgedReceipt);
    await waitUntil(() => forged().length >= 2);
    expect(forged().map((e) => [e.from.user, e.id]).sort()).toEqual([[bo, byBo.id], [eve, byEve.id]].sort());
    // Reported after the genuine part went to the app: what is shown now is final.
    expect(summary(receiptsAt(alpha, ann, x.id).filter((r) => r.status === "read"))).toEqual(["read:1"]);
    expect(receiptsAt(alpha, ann, x.id).filter((r) => r.status === "read").map((r) => r.by.user)).toEqual([bo]);
    expect(receiptsAt(alpha, ann, y.id).filter((r) => r.status === "read")).toEqual([]);
    expect(receiptsAt(alpha, ann, never)).toEqual([]);
    const sx = right(await app(alpha).receiptStatus(ann, x.id)).receipts.filter((r) => r.status === "read");
    expect(sx.map((r) => r.by.user)).toEqual([bo]);
    expect(right(await app(alpha).receiptStatus(ann, y.id)).receipts.filter((r) => r.status === "read")).toEqual([]);
  });

  it("read receipts off: neither sent nor shown, while delivered and played receipts still flow", async () => {
    const gil = uid("gil");
    const hana = uid("hana");
    await register(alpha, gil, [1]);
    await register(beta, hana, [1]);
    const gilDev = { user: gil, device: dev(1) };
    const hanaDev = { user: hana, device: dev(1) };
    const toGil = { provider: alpha, user: gil };
    const toHana = { provider: beta, user: hana };

    // The reader turns them off: markRead sends nothing; a played receipt still goes.
    expect(right(await app(beta).readReceipts(hana))).toBe(true);
    expect(right(await app(beta).setReadReceipts(hana, false))).toBe(false);
    expect(right(await app(beta).readReceipts(hana))).toBe(false);
    const m1 = right(await app(alpha).sendText(gilDev, toHana, "voice note, imagine"));
    await waitUntil(() => seen.get(beta)!.messages.some((m) => m.content.id === m1.id));
    expect(right(await app(beta).markRead(hanaDev, toGil, [m1.id])).devices).toBe(0);
    expect(right(await app(beta).markPlayed(hanaDev, toGil, [m1.id])).devices).toBe(1);
    // Hana's next message is queued behind anything she sent before: once gil has it, the rest is in.
    right(await app(beta).sendText(hanaDev, toGil, "after m1"));
    await waitUntil(() => textsAt(alpha, gil).includes("after m1") && receiptsAt(alpha, gil, m1.id).some((r) => r.status === "delivered"));
    expect(summary(receiptsAt(alpha, gil, m1.id))).toEqual(["delivered:1", "played:1"]);
    expect(summary(right(await app(alpha).receiptStatus(gil, m1.id)).receipts)).toEqual(["delivered:1", "played:1"]);

    // The sender turns them off: hana's read receipt is sent, but gil's side does not show it.
    right(await app(beta).setReadReceipts(hana, true));
    right(await app(alpha).setReadReceipts(gil, false));
    const m2 = right(await app(alpha).sendText(gilDev, toHana, "second"));
    await waitUntil(() => seen.get(beta)!.messages.some((m) => m.content.id === m2.id));
    expect(right(await app(beta).markRead(hanaDev, toGil, [m2.id])).devices).toBe(1);
    right(await app(beta).sendText(hanaDev, toGil, "after m2"));
    await waitUntil(() => textsAt(alpha, gil).includes("after m2") && receiptsAt(alpha, gil, m2.id).some((r) => r.status === "delivered"));
    expect(summary(receiptsAt(alpha, gil, m2.id))).toEqual(["delivered:1"]);
    expect(summary(right(await app(alpha).receiptStatus(gil, m2.id)).receipts)).toEqual(["delivered:1"]);
    // And gil's own markRead is a no-op while off.
    expect(right(await app(alpha).markRead(gilDev, toHana, ["anything"])).devices).toBe(0);
    // Nothing forged about it: no error events for gil.
    expect(seen.get(alpha)!.errors.filter((e) => e.to.user === gil)).toEqual([]);
  });

  it("keeps the sent log and the settings sealed under keyed names; the sent log expires", async () => {
    const nc = await conn();
    const info = await (await jetstreamManager(nc)).streams.info(`KV_${sentLogBucket(alpha)}`);
    expect(info.config.max_age).toBe(nanos(30 * 24 * 60 * 60 * 1000));
    expect(info.config.num_replicas).toBe(1);
    let entries = 0;
    for (const bucket of [sentLogBucket(alpha), receiptPrefsBucket(alpha), sentLogBucket(gamma)]) {
      const kv = await new Kvm(nc).open(bucket);
      for await (const k of await kv.keys()) {
        const e = await kv.get(k);
        const value = Buffer.from(e?.value ?? new Uint8Array());
        for (const u of users) {
          expect(k.includes(u)).toBe(false);
          expect(value.includes(Buffer.from(u))).toBe(false);
        }
        entries++;
      }
    }
    expect(entries).toBeGreaterThan(5);
  });
});
