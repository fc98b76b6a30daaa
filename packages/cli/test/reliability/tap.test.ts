import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { connect, startHubWithLeaves, useTopology } from "@interlink/testing";
import type { RunningService, ServiceEnv } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import type { AttachmentMeta, InboundMessage, Receipt } from "@interlink/client";
import { ProviderApp } from "@interlink/client";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import type { AttachmentKind, AttachmentPointer, ContentBody } from "@interlink/wire";
import { createCodec } from "@interlink/wire";
import { startService } from "../../src/index.js";
import { gradientPng } from "../../src/image.js";
import { report, tag, until } from "./harness.js";

const codec = createCodec();

/**
 * The foundation issue's tap test, extended to every message kind and every receipt: text, a
 * reply, a reaction, an edit, a delete, an image, a voice message, a video and a file from a
 * two-device sender to a two-device recipient (so the sender's own second device gets sent
 * copies), an answer back, delivered receipts (hub) and read and played receipts (end to end).
 * Providers run on their own leafnodes, which deny `ilk.ratchet.>` both ways (infra/nats/leaf);
 * a tap on the hub sees everything the hub carries and must find no plaintext, no attachment
 * key or metadata, no read/played receipt and no user id in a subject.
 */
describe("no plaintext on the hub: every message kind and every receipt", () => {
  const topo = useTopology(() =>
    startHubWithLeaves({
      leaves: [
        { name: "alpha", jetstream: true, denyExports: ["ilk.ratchet.>"], denyImports: ["ilk.ratchet.>"] },
        { name: "beta", jetstream: true, denyExports: ["ilk.ratchet.>"], denyImports: ["ilk.ratchet.>"] },
      ],
    }),
  );
  const conns: NatsConnection[] = [];
  const services: RunningService[] = [];
  const keys = { secret: randomBytes(32), atRestKey: randomBytes(32) };
  const t = tag();
  const alice = `alice-${t}` as UserId;
  const bob = `bob-${t}` as UserId;
  const a1 = { user: alice, device: 1 as DeviceId };
  const a2 = { user: alice, device: 2 as DeviceId };
  const b1 = { user: bob, device: 1 as DeviceId };
  const toBob = { provider: "beta" as ProviderId, user: bob };
  const toAlice = { provider: "alpha" as ProviderId, user: alice };
  const tapped: Msg[] = [];
  const shown: InboundMessage[] = [];
  const receipts: Receipt[] = [];
  let alphaApp: ProviderApp;
  let betaApp: ProviderApp;
  const secret = (what: string) => `${what} ${randomBytes(10).toString("hex")}`;
  const texts = { text: secret("hello"), reply: secret("a reply"), edit: secret("edited to"), answer: secret("the answer"), caption: secret("caption") };
  const emoji = "🦜🧪✅🔐";
  const thumb = gradientPng(24, 16);
  const media: Array<{ kind: AttachmentKind; bytes: Uint8Array; meta: AttachmentMeta; pointer?: AttachmentPointer; id?: string }> = [
    { kind: "image", bytes: gradientPng(160, 120), meta: { mime: "image/png", fileName: `photo-${t}.png`, width: 160, height: 120, thumbnail: thumb } },
    { kind: "voice", bytes: randomBytes(40_000), meta: { mime: "audio/ogg", durationMs: 4_000, waveform: randomBytes(64) } },
    { kind: "video", bytes: randomBytes(600_000), meta: { mime: "video/mp4", fileName: `clip-${t}.mp4`, width: 640, height: 360, durationMs: 9_000, thumbnail: thumb } },
    { kind: "file", bytes: randomBytes(70_000), meta: { mime: "application/pdf", fileName: `minutes-${t}.pdf` } },
  ];
  const ids: Record<string, string> = {};

  const conn = async (url: string) => {
    const nc = await connect(url);
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    const hubUrl = topo().hub.url;
    const tap = await conn(hubUrl);
    tap.subscribe(">", { callback: (_e, m) => void tapped.push(m) });
    await tap.flush();
    const env: ServiceEnv = { nc: await conn(hubUrl), log: silentLogger, clock: systemClock, secret: keys.secret, replicas: 1 };
    for (const name of ["key-directory", "delivery", "media-store", "receipt"] as const) services.push(await startService(name, env, keys));
    for (const p of ["alpha", "beta"] as const) {
      const nc = await conn(topo().leaves[p]!.url);
      services.push(await startService("session-ratchet", { ...env, nc }, keys, { provider: p as ProviderId }));
    }
    alphaApp = new ProviderApp(await conn(topo().leaves["alpha"]!.url), "alpha" as ProviderId);
    betaApp = new ProviderApp(await conn(topo().leaves["beta"]!.url), "beta" as ProviderId);
    for (const app of [alphaApp, betaApp]) {
      app.onMessage((m) => void shown.push(m));
      app.onReceipts((r) => void receipts.push(...r.receipts));
    }
    for (const [app, d] of [[alphaApp, a1], [alphaApp, a2], [betaApp, b1], [betaApp, { user: bob, device: 2 as DeviceId }]] as const) {
      const r = await app.register(d.user, d.device);
      if (E.isLeft(r)) throw new Error(`register: ${r.left.code}`);
    }
  });

  afterAll(async () => {
    await alphaApp?.close();
    await betaApp?.close();
    for (const s of services.reverse()) await s.stop();
    for (const c of conns) await c.close();
  });

  const sent = (r: E.Either<{ code: string }, { id: string }>, what: string): string => {
    if (E.isLeft(r)) throw new Error(`${what}: ${r.left.code}`);
    ids[what] = r.right.id;
    return r.right.id;
  };

  it("delivers every kind to both recipient devices and a sent copy to the sender's other device", async () => {
    const first = sent(await alphaApp.sendText(a1, toBob, texts.text), "text");
    sent(await alphaApp.sendText(a1, toBob, texts.reply, { replyTo: first }), "reply");
    sent(await alphaApp.react(a1, toBob, first, emoji), "reaction");
    sent(await alphaApp.edit(a1, toBob, first, texts.edit), "edit");
    sent(await alphaApp.remove(a1, toBob, first), "delete");
    for (const m of media) {
      const r = await alphaApp.sendAttachment(a1, toBob, m.kind, m.bytes, m.meta, { caption: texts.caption });
      if (E.isLeft(r)) throw new Error(`${m.kind}: ${r.left.code}`);
      m.pointer = r.right.media;
      m.id = r.right.id;
      ids[m.kind] = r.right.id;
    }
    const kinds = Object.keys(ids);
    const at = (id: string, user: string, device: number) => shown.filter((m) => m.content.id === id && m.to.user === user && m.to.device === device);
    const all = await until(() => kinds.every((k) => [1, 2].every((d) => at(ids[k]!, bob, d).length > 0) && at(ids[k]!, alice, 2).length > 0), 30_000);
    expect(all).toBe(true);
    const body = (k: string): ContentBody => at(ids[k]!, bob, 1)[0]!.content.body;
    expect(body("text")).toEqual({ t: "text", text: texts.text });
    expect(body("reply")).toEqual({ t: "text", text: texts.reply, replyTo: first });
    expect(body("reaction")).toEqual({ t: "reaction", target: first, emoji });
    expect(body("edit")).toEqual({ t: "edit", target: first, text: texts.edit });
    expect(body("delete")).toEqual({ t: "delete", target: first });
    for (const m of media) expect(body(m.kind)).toMatchObject({ t: "attachment", kind: m.kind, caption: texts.caption });
    // The sender's second device got the sent transcript of each.
    for (const k of kinds) expect(at(ids[k]!, alice, 2)[0]!.content.sentTo).toEqual({ provider: "beta", user: bob });
    // Nothing shown twice.
    for (const k of kinds) for (const [u, d] of [[bob, 1], [bob, 2], [alice, 2]] as const) expect(at(ids[k]!, u, d).length).toBe(1);
  });

  it("routes delivered receipts (hub), read and played receipts (end to end) and an answer back to the sender", async () => {
    const readable = ["text", "reply", "image", "file"].map((k) => ids[k]!);
    const playable = ["voice", "video"].map((k) => ids[k]!);
    sent(await betaApp.markRead(b1, toAlice, readable), "read receipt");
    sent(await betaApp.markPlayed(b1, toAlice, playable), "played receipt");
    sent(await betaApp.sendText(b1, toAlice, texts.answer), "answer");
    const has = (id: string, status: string) => receipts.some((r) => r.id === id && r.status === status);
    const ok = await until(
      () =>
        [...readable, ...playable].every((id) => has(id, "delivered")) &&
        readable.every((id) => has(id, "read")) &&
        playable.every((id) => has(id, "played")) &&
        shown.some((m) => m.content.id === ids["answer"] && m.to.user === alice),
      30_000,
    );
    expect(ok).toBe(true);
    for (const m of media) {
      const got = await betaApp.download(m.pointer!);
      expect(E.isRight(got) && Buffer.from(got.right).equals(Buffer.from(m.bytes))).toBe(true);
    }
  });

  it("never showed the hub plaintext, metadata, an attachment key, a read/played receipt or a user id", () => {
    const needles: Array<[string, Buffer]> = [
      ...Object.entries(texts).map(([k, v]): [string, Buffer] => [k, Buffer.from(v)]),
      ["reaction", Buffer.from(emoji)],
      ["thumbnail", Buffer.from(thumb.subarray(thumb.length - 40, thumb.length - 12))],
    ];
    for (const m of media) {
      for (const off of [0, 1000, Math.floor(m.bytes.length / 2), m.bytes.length - 24]) needles.push([`${m.kind}@${off}`, Buffer.from(m.bytes.subarray(off, off + 24))]);
      needles.push([`${m.kind} aes key`, Buffer.from(m.pointer!.key.subarray(0, 16))], [`${m.kind} mac key`, Buffer.from(m.pointer!.key.subarray(32, 48))]);
      if (m.meta.fileName !== undefined) needles.push([`${m.kind} file name`, Buffer.from(m.meta.fileName)]);
      if (m.meta.waveform !== undefined) needles.push([`${m.kind} waveform`, Buffer.from(m.meta.waveform.subarray(0, 24))]);
      needles.push([`${m.kind} mime`, Buffer.from(m.meta.mime)]);
    }
    const leaks = new Set<string>();
    const statuses = new Set<string>();
    const subjects = new Set<string>();
    let bytes = 0;
    for (const m of tapped) {
      subjects.add(m.subject.split(".").slice(0, 4).join("."));
      const data = Buffer.from(m.data);
      bytes += data.length;
      const hdrs = Buffer.from(m.headers?.toString() ?? "");
      for (const [what, needle] of needles) if (data.includes(needle) || hdrs.includes(needle)) leaks.add(`${what} on ${m.subject}`);
      for (const u of [alice, bob]) if (m.subject.includes(u)) leaks.add(`user id in subject ${m.subject}`);
      if (m.subject.startsWith("ilk.ratchet.")) leaks.add(`edge subject ${m.subject} reached the hub`);
      // Receipt statuses the hub may carry: "delivered" only.
      if (data.length < 64 * 1024) {
        const d = codec.decode(data);
        if (E.isRight(d)) {
          const walk = (u: unknown): void => {
            if (Array.isArray(u)) u.forEach(walk);
            else if (typeof u === "object" && u !== null && !(u instanceof Uint8Array)) {
              const o = u as Record<string, unknown>;
              if (typeof o["status"] === "string") statuses.add(o["status"]);
              Object.values(o).forEach(walk);
            }
          };
          walk(d.right);
        }
      }
    }
    report("tap on the hub: every message kind and receipt", { hubMessages: tapped.length, hubBytes: bytes, needles: needles.length, leaks: leaks.size });
    expect(tapped.length).toBeGreaterThan(200);
    // The tap saw the video's ciphertext cross (upload in, download out) and every kind of hub traffic.
    expect(bytes).toBeGreaterThan(2 * 600_000);
    for (const s of ["ilk.delivery.v1.send", "ilk.delivery.v1.pull", "ilk.delivery.v1.ack", "ilk.keys.v1.claim", "ilk.media.v1.chunk", "ilk.media.v1.download"]) expect(subjects.has(s), s).toBe(true);
    expect(statuses.has("delivered")).toBe(true);
    expect([...statuses].filter((s) => s !== "delivered")).toEqual([]);
    expect([...leaks]).toEqual([]);
  });
});
