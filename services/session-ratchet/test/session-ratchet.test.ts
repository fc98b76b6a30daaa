import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startSingle, useTopology } from "@interlink/testing";
import type { RunningService, ServiceEnv } from "@interlink/actor";
import { ErrorCode, silentLogger, systemClock } from "@interlink/actor";
import type { IdentityChange, InboundError, InboundMessage } from "@interlink/client";
import { IdentityChangeS, InboundErrorS, InboundMessageS, InterlinkClient } from "@interlink/client";
import { generateDevice } from "@interlink/crypto";
import { startDelivery } from "@interlink/delivery";
import { startKeyDirectory } from "@interlink/key-directory";
import { startReceipt } from "@interlink/receipt";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { Service, requestSubject } from "@interlink/subjects";
import { createCodec, decodeWith, okReply } from "@interlink/wire";
import { startSessionRatchet } from "../src/index.js";

const alpha = "alpha" as ProviderId;
const beta = "beta" as ProviderId;
const codec = createCodec();
const dev1 = 1 as DeviceId;

const waitUntil = async (cond: () => boolean, ms = 15_000) => {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
};

describe.each([
  { workers: 0, label: "crypto on the main thread" },
  { workers: 2, label: "crypto on 2 worker threads, sessions pinned by hash" },
])("session-ratchet at the edge ($label)", ({ workers }) => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  const services: RunningService[] = [];
  const clients: InterlinkClient[] = [];
  const inbox: InboundMessage[] = [];
  const alphaInbox: InboundMessage[] = [];
  const errors: InboundError[] = [];
  const secret = randomBytes(32);
  const atRestKey = randomBytes(32);
  let env: ServiceEnv;
  let alphaApp: InterlinkClient;

  const ratchet = async (provider: ProviderId, extra: { rotateAfterMs?: number } = {}) => {
    const nc = await connect(topo().url);
    conns.push(nc);
    const client = new InterlinkClient(nc, provider);
    clients.push(client);
    const svc = await startSessionRatchet({ ...env, nc }, { provider, client, atRestKey, preKeys: 5, workers, natsServers: topo().url, ...extra });
    services.push(svc);
    return svc;
  };

  beforeAll(async () => {
    const hub = await connect(topo().url);
    conns.push(hub);
    env = { nc: hub, log: silentLogger, clock: systemClock, secret, replicas: 1 };
    services.push(await startKeyDirectory(env, { lowWater: 3 }), await startDelivery(env), await startReceipt(env));
    await ratchet(alpha);
    await ratchet(alpha); // a second alpha instance: the same sessions, written with CAS
    await ratchet(beta);
    const app = await connect(topo().url);
    conns.push(app);
    app.subscribe(requestSubject(Service.Ratchet, "message", beta), {
      callback: (_e, msg) => {
        const m = decodeWith(codec, InboundMessageS, msg.data);
        if (E.isRight(m)) inbox.push(m.right);
        msg.respond(codec.encode(okReply({})));
      },
    });
    app.subscribe(requestSubject(Service.Ratchet, "message", alpha), {
      callback: (_e, msg) => {
        const m = decodeWith(codec, InboundMessageS, msg.data);
        if (E.isRight(m)) alphaInbox.push(m.right);
        msg.respond(codec.encode(okReply({})));
      },
    });
    app.subscribe(requestSubject(Service.Ratchet, "error", beta), {
      callback: (_e, msg) => {
        const m = decodeWith(codec, InboundErrorS, msg.data);
        if (E.isRight(m)) errors.push(m.right);
        msg.respond(codec.encode(okReply({})));
      },
    });
    // Delivered receipts reach the app through the senders' device queues, like messages: an app
    // takes them (here it just acks), or its queues stop at them.
    for (const p of [alpha, beta]) {
      app.subscribe(requestSubject(Service.Ratchet, "receipts", p), { callback: (_e, msg) => void msg.respond(codec.encode(okReply({}))) });
    }
    await app.flush();
    alphaApp = new InterlinkClient(app, alpha);
    clients.push(alphaApp);
  });

  afterAll(async () => {
    for (const s of services.reverse()) await s.stop();
    for (const c of clients) c.close();
    for (const c of conns) await c.close();
  });

  const register = async (client: InterlinkClient, user: string) => {
    const r = await client.ratchet.register({ user: user as UserId, device: dev1 });
    if (E.isLeft(r)) throw new Error(`register: ${r.left.code}`);
    return r.right;
  };

  it("registers a device once; registering again answers the same registration id", async () => {
    const first = await register(alphaApp, "reg-user");
    const again = await register(alphaApp, "reg-user");
    expect(first.created).toBe(true);
    expect(again).toEqual({ registrationId: first.registrationId, created: false });
  });

  it("keeps one session intact under 30 concurrent sends spread over two ratchet instances", async () => {
    const betaApp = new InterlinkClient(conns[conns.length - 1]!, beta);
    clients.push(betaApp);
    await register(alphaApp, "ann");
    await register(betaApp, "bo");
    const texts = Array.from({ length: 30 }, (_, i) => `concurrent ${i}`);
    const sent = await Promise.all(
      texts.map((text) => alphaApp.ratchet.send({ from: { user: "ann" as UserId, device: dev1 }, to: { provider: beta, user: "bo" as UserId }, content: { t: "text", text } })),
    );
    expect(sent.filter(E.isLeft).map((r) => (E.isLeft(r) ? r.left.code : ""))).toEqual([]);
    await waitUntil(() => inbox.filter((m) => m.to.user === "bo").length >= 30);
    const got = inbox.filter((m) => m.to.user === "bo").map((m) => (m.content.body.t === "text" ? m.content.body.text : ""));
    // Every message decrypted exactly once: a forked ratchet would lose some to errors.
    expect([...got].sort()).toEqual([...texts].sort());
    expect(errors.filter((e) => e.to.user === "bo")).toEqual([]);
    const ids = inbox.filter((m) => m.to.user === "bo").map((m) => m.content.id);
    expect(new Set(ids).size).toBe(30);
  });

  it("reports corrupt ciphertext to the app as a typed error and keeps delivering after it", async () => {
    const betaApp = new InterlinkClient(conns[conns.length - 1]!, beta);
    clients.push(betaApp);
    await register(alphaApp, "cat");
    const reg = await register(betaApp, "cy");
    // A forged envelope straight to delivery, as a broken or malicious sender would send it.
    const forged = await alphaApp.delivery.send({
      id: "forged-1",
      from: { user: "cat" as UserId, device: dev1 },
      to: { provider: beta, user: "cy" as UserId },
      sentAt: Date.now(),
      messages: [{ device: dev1, registrationId: reg.registrationId, type: 2, body: randomBytes(120) }],
    });
    expect(E.isRight(forged)).toBe(true);
    const ok = await alphaApp.ratchet.send({ from: { user: "cat" as UserId, device: dev1 }, to: { provider: beta, user: "cy" as UserId }, content: { t: "text", text: "after the junk" } });
    expect(E.isRight(ok)).toBe(true);
    await waitUntil(() => errors.some((e) => e.id === "forged-1") && inbox.some((m) => m.to.user === "cy"));
    expect(errors.find((e) => e.id === "forged-1")).toMatchObject({ to: { user: "cy" }, from: { provider: "alpha", user: "cat" } });
    const got = inbox.filter((m) => m.to.user === "cy");
    expect(got.map((m) => (m.content.body.t === "text" ? m.content.body.text : ""))).toEqual(["after the junk"]);
  });

  it("accepts a contact's new identity key after a reinstall, tells the app, and changes the safety number", async () => {
    const betaApp = new InterlinkClient(conns[conns.length - 1]!, beta);
    clients.push(betaApp);
    const changes: IdentityChange[] = [];
    const sub = conns[conns.length - 1]!.subscribe(requestSubject(Service.Ratchet, "identity", alpha), {
      callback: (_e, msg) => {
        const c = decodeWith(codec, IdentityChangeS, msg.data);
        if (E.isRight(c)) changes.push(c.right);
      },
    });
    await register(alphaApp, "eve");
    await register(betaApp, "dan");
    const from = { user: "eve" as UserId, device: dev1 };
    const to = { provider: beta, user: "dan" as UserId };
    expect(E.isRight(await alphaApp.ratchet.send({ from, to, content: { t: "text", text: "before" } }))).toBe(true);
    const before = await alphaApp.ratchet.safetyNumber({ local: from, remote: to });
    if (E.isLeft(before) || before.right.safetyNumber === null) throw new Error("no safety number");

    // Dan reinstalls elsewhere: new identity and registration id for the same device.
    const reinstall = generateDevice({ preKeys: 2, kyberPreKeys: 2, now: Date.now() });
    expect(E.isRight(await betaApp.keys.upload({ user: "dan" as UserId, device: dev1, ...reinstall.upload }))).toBe(true);
    const after = await alphaApp.ratchet.send({ from, to, content: { t: "text", text: "after" } });
    expect(E.isRight(after)).toBe(true); // stale device fixed without the app seeing an error
    await waitUntil(() => changes.some((c) => c.remote.user === "dan"));
    const change = changes.find((c) => c.remote.user === "dan")!;
    expect(change.local).toEqual(from);
    const now = await alphaApp.ratchet.safetyNumber({ local: from, remote: to });
    expect(E.isRight(now) && now.right.safetyNumber).toBe(change.safetyNumber);
    expect(change.safetyNumber).not.toBe(before.right.safetyNumber);
    sub.unsubscribe();
  });

  it("fans out to every recipient device and copies to the sender's other devices; a device added mid-conversation is picked up", async () => {
    const betaApp = new InterlinkClient(conns[conns.length - 1]!, beta);
    clients.push(betaApp);
    for (const d of [1, 2]) expect(E.isRight(await alphaApp.ratchet.register({ user: "fay" as UserId, device: d as DeviceId }))).toBe(true);
    for (const d of [1, 2, 3]) expect(E.isRight(await betaApp.ratchet.register({ user: "gus" as UserId, device: d as DeviceId }))).toBe(true);
    const from = { user: "fay" as UserId, device: dev1 };
    const to = { provider: beta, user: "gus" as UserId };
    const first = await alphaApp.ratchet.send({ from, to, content: { t: "text", text: "to all of gus" } });
    expect(E.isRight(first) && first.right.devices).toBe(3);
    const id1 = E.isRight(first) ? first.right.id : "";
    await waitUntil(() => inbox.filter((m) => m.content.id === id1).length >= 3 && alphaInbox.some((m) => m.content.id === id1));
    expect(inbox.filter((m) => m.content.id === id1).map((m) => m.to.device).sort()).toEqual([1, 2, 3]);
    const copy = alphaInbox.filter((m) => m.content.id === id1);
    expect(copy.map((m) => m.to)).toEqual([{ user: "fay", device: 2 }]);
    expect(copy[0]!.content.sentTo).toEqual({ provider: "beta", user: "gus" });

    // Gus links a fourth device; fay's edge learns it from delivery's mismatch and retries.
    expect(E.isRight(await betaApp.ratchet.register({ user: "gus" as UserId, device: 4 as DeviceId }))).toBe(true);
    const second = await alphaApp.ratchet.send({ from, to, content: { t: "text", text: "welcome, device 4" } });
    expect(E.isRight(second) && second.right.devices).toBe(4);
    const id2 = E.isRight(second) ? second.right.id : "";
    await waitUntil(() => inbox.filter((m) => m.content.id === id2).length >= 4);
    expect(inbox.filter((m) => m.content.id === id2).map((m) => m.to.device).sort()).toEqual([1, 2, 3, 4]);
    expect(errors.filter((e) => e.to.user === "gus")).toEqual([]);
  });

  it("refills one-time prekeys when key-directory reports a device ran low", async () => {
    const betaApp = new InterlinkClient(conns[conns.length - 1]!, beta);
    clients.push(betaApp);
    await register(betaApp, "kim"); // 5 one-time keys of each kind (preKeys: 5)
    const to = { provider: beta, user: "kim" as UserId };
    // Three new senders, three claims: 5 → 2 crosses the low-water mark of 3.
    for (const sender of ["s1", "s2", "s3"]) {
      await register(alphaApp, sender);
      expect(E.isRight(await alphaApp.ratchet.send({ from: { user: sender as UserId, device: dev1 }, to, content: { t: "text", text: "hi" } }))).toBe(true);
    }
    let counts = { preKeys: 0, kyberPreKeys: 0 };
    await waitUntil(() => {
      void betaApp.keys.count({ user: "kim" as UserId, device: dev1 }).then((c) => E.isRight(c) && (counts = c.right));
      return counts.preKeys >= 7;
    });
    expect(counts).toEqual({ preKeys: 7, kyberPreKeys: 7 });
    // The refilled keys work: a fourth sender's session opens on kim's side.
    await register(alphaApp, "s4");
    const sent = await alphaApp.ratchet.send({ from: { user: "s4" as UserId, device: dev1 }, to, content: { t: "text", text: "after refill" } });
    expect(E.isRight(sent)).toBe(true);
    await waitUntil(() => inbox.some((m) => m.to.user === "kim" && m.from.user === "s4"));
    expect(inbox.filter((m) => m.to.user === "kim").length).toBe(4);
    expect(errors.filter((e) => e.to.user === "kim")).toEqual([]);
  });

  it("rotates the signed prekey on schedule; sessions from before and after the rotation both decrypt", async () => {
    const betaApp = new InterlinkClient(conns[conns.length - 1]!, beta);
    clients.push(betaApp);
    await register(betaApp, "hal");
    await register(alphaApp, "ivy");
    await register(alphaApp, "joe");
    const to = { provider: beta, user: "hal" as UserId };
    const ivy = { user: "ivy" as UserId, device: dev1 };
    expect(E.isRight(await alphaApp.ratchet.send({ from: ivy, to, content: { t: "text", text: "before rotation" } }))).toBe(true);
    await waitUntil(() => inbox.some((m) => m.to.user === "hal"));
    // A beta instance whose schedule says every key is due rotates on its first sweep.
    const rotator = await ratchet(beta, { rotateAfterMs: 0 });
    let spk = 0;
    await waitUntil(() => {
      void betaApp.keys.claim({ provider: beta, user: "hal" as UserId }).then((c) => E.isRight(c) && (spk = c.right.bundles[0]!.signedPreKey.id));
      return spk === 2;
    });
    expect(spk).toBe(2);
    await rotator.stop();
    expect(E.isRight(await alphaApp.ratchet.send({ from: { user: "joe" as UserId, device: dev1 }, to, content: { t: "text", text: "new key" } }))).toBe(true);
    expect(E.isRight(await alphaApp.ratchet.send({ from: ivy, to, content: { t: "text", text: "old session" } }))).toBe(true);
    await waitUntil(() => inbox.filter((m) => m.to.user === "hal").length >= 3);
    const texts = inbox.filter((m) => m.to.user === "hal").map((m) => (m.content.body.t === "text" ? m.content.body.text : ""));
    expect(texts.sort()).toEqual(["before rotation", "new key", "old session"]);
    expect(errors.filter((e) => e.to.user === "hal")).toEqual([]);
  });

  it("reports a replayed ciphertext and a message with no session as typed error events", async () => {
    const betaApp = new InterlinkClient(conns[conns.length - 1]!, beta);
    clients.push(betaApp);
    await register(alphaApp, "lea");
    const reg = await register(betaApp, "max");
    const to = { provider: beta, user: "max" as UserId };
    const from = { user: "lea" as UserId, device: dev1 };
    // Capture lea's real ciphertext on its way to delivery, then send it again as a replay.
    let captured: Uint8Array | undefined;
    let capturedType = 0;
    const tap = conns[conns.length - 1]!.subscribe("ilk.delivery.v1.send.alpha", {
      callback: (_e, m) => {
        const req = codec.decode(m.data);
        if (E.isRight(req)) {
          const r = req.right as { to: { user: string }; messages: Array<{ type: number; body: Uint8Array }> };
          if (r.to.user === "max") {
            captured = r.messages[0]!.body;
            capturedType = r.messages[0]!.type;
          }
        }
      },
    });
    await conns[conns.length - 1]!.flush();
    expect(E.isRight(await alphaApp.ratchet.send({ from, to, content: { t: "text", text: "original" } }))).toBe(true);
    await waitUntil(() => inbox.some((m) => m.to.user === "max"));
    tap.unsubscribe();
    expect(captured).toBeDefined();
    const resend = (id: string, type: number, body: Uint8Array) =>
      alphaApp.delivery.send({ id, from, to, sentAt: Date.now(), messages: [{ device: dev1, registrationId: reg.registrationId, type, body }] });
    expect(E.isRight(await resend("replay-1", capturedType, captured!))).toBe(true);
    await waitUntil(() => errors.some((e) => e.id === "replay-1"));
    expect(errors.find((e) => e.id === "replay-1")?.code).toBe("duplicated_message");

    // A Whisper message from someone max has no session with.
    await register(alphaApp, "ned");
    const stranger = await alphaApp.delivery.send({
      id: "nosession-1",
      from: { user: "ned" as UserId, device: dev1 },
      to,
      sentAt: Date.now(),
      messages: [{ device: dev1, registrationId: reg.registrationId, type: 2, body: captured! }],
    });
    expect(E.isRight(stranger)).toBe(true);
    await waitUntil(() => errors.some((e) => e.id === "nosession-1"));
    expect(errors.find((e) => e.id === "nosession-1")?.code).toMatch(/^(no_session|invalid_message)$/);
    expect(inbox.filter((m) => m.to.user === "max")).toHaveLength(1);
  });

  it("answers an app's retry of a send with the same id as already sent", async () => {
    const betaApp = new InterlinkClient(conns[conns.length - 1]!, beta);
    clients.push(betaApp);
    await register(alphaApp, "oli");
    await register(betaApp, "pam");
    const req = { from: { user: "oli" as UserId, device: dev1 }, to: { provider: beta, user: "pam" as UserId }, id: "retry-same-id", content: { t: "text" as const, text: "once" } };
    const first = await alphaApp.ratchet.send(req);
    const again = await alphaApp.ratchet.send(req);
    expect(E.isRight(first) && E.isRight(again)).toBe(true);
    await waitUntil(() => inbox.some((m) => m.to.user === "pam"));
    await new Promise((r) => setTimeout(r, 200));
    expect(inbox.filter((m) => m.to.user === "pam").map((m) => m.content.id)).toEqual(["retry-same-id"]);
  });

  it("refuses bad requests with typed errors and an unknown sender with not_found", async () => {
    const bad = await alphaApp.ratchet.register({ user: "has.dot" as UserId, device: dev1 });
    expect(E.isLeft(bad) && bad.left.code).toBe(ErrorCode.BadRequest);
    const unknown = await alphaApp.ratchet.send({ from: { user: "nobody" as UserId, device: dev1 }, to: { provider: beta, user: "bo" as UserId }, content: { t: "text", text: "x" } });
    expect(E.isLeft(unknown) && unknown.left.code).toBe(ErrorCode.NotFound);
    const noRecipient = await alphaApp.ratchet.send({ from: { user: "ann" as UserId, device: dev1 }, to: { provider: beta, user: "ghost" as UserId }, content: { t: "text", text: "x" } });
    expect(E.isLeft(noRecipient) && noRecipient.left.code).toBe(ErrorCode.NotFound);
  });
});
