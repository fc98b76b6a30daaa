import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import { connect, startSingle, useTopology, waitFor } from "@interlink/testing";
import type { RunningService, ServiceEnv } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import type { AttachmentMeta, InboundMessage, Receipt } from "@interlink/client";
import { ProviderApp } from "@interlink/client";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import type { AttachmentKind, AttachmentPointer } from "@interlink/wire";
import { startService } from "../src/index.js";
import { gradientPng } from "../src/image.js";

const MiB = 1024 * 1024;
/** The issue asks for a 100 MiB video; INTERLINK_E2E_VIDEO_MIB makes it smaller on a slow machine. */
const VIDEO_BYTES = Math.round(Number(process.env["INTERLINK_E2E_VIDEO_MIB"] ?? 100) * MiB);

interface Sent {
  readonly kind: AttachmentKind;
  readonly bytes: Uint8Array;
  readonly meta: AttachmentMeta;
  readonly caption: string;
  id?: string;
  pointer?: AttachmentPointer;
}

/**
 * All five message kinds between two providers, through both providers' session-ratchets (Signal
 * sessions), delivery, receipt and media-store, on one server. A tap on every subject except the
 * providers' own edge subjects (`ilk.ratchet.*`, which stay on a provider's leaf in production)
 * checks that no plaintext, attachment key or per-kind metadata reaches the hub.
 */
describe("five message kinds end to end: text, image, voice, video, file", () => {
  const topo = useTopology(() => startSingle());
  const conns: NatsConnection[] = [];
  const services: RunningService[] = [];
  const keys = { secret: randomBytes(32), atRestKey: randomBytes(32) };
  const tag = randomBytes(4).toString("hex");
  const alice = { user: `alice-${tag}` as UserId, device: 1 as DeviceId };
  const bob = { user: `bob-${tag}` as UserId, device: 1 as DeviceId };
  const text = `five kinds ${randomBytes(8).toString("hex")} — end to end only`;
  const inbox = new Map<string, InboundMessage>();
  const receipts = new Map<string, Receipt>();
  const needles: Array<[string, Buffer]> = [];
  const leaks = new Set<string>();
  /** Messages small enough to keep (everything but media chunks), scanned again at the end. */
  const small: Array<{ subject: string; data: Buffer }> = [];
  let tapped = 0;
  let tappedBytes = 0;
  let alpha: ProviderApp;
  let beta: ProviderApp;

  const thumb = gradientPng(32, 24);
  const sent: Sent[] = [
    {
      kind: "image",
      bytes: gradientPng(320, 240),
      meta: { mime: "image/png", fileName: "gradient.png", width: 320, height: 240, thumbnail: thumb },
      caption: "an image",
    },
    {
      kind: "voice",
      bytes: randomBytes(180_000),
      meta: { mime: "audio/ogg; codecs=opus", durationMs: 11_250, waveform: randomBytes(100) },
      caption: "a voice message",
    },
    {
      kind: "video",
      bytes: randomBytes(VIDEO_BYTES),
      meta: { mime: "video/mp4", fileName: "holiday.mp4", width: 1920, height: 1080, durationMs: 95_000, thumbnail: gradientPng(96, 54) },
      caption: "a video",
    },
    {
      kind: "file",
      bytes: randomBytes(3 * MiB + 17),
      meta: { mime: "application/pdf", fileName: `minutes-${tag}.pdf` },
      caption: "a file",
    },
  ];

  const conn = async () => {
    const nc = await connect(topo().url);
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    // The tap scans as it goes and keeps nothing: the video alone crosses the hub several times.
    const tap = await conn();
    tap.subscribe(">", {
      callback: (_e, m) => {
        tapped++;
        if (m.subject.startsWith("ilk.ratchet.")) return;
        tappedBytes += m.data.length;
        const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length);
        if (data.length <= 64 * 1024) small.push({ subject: m.subject, data: Buffer.from(data) });
        for (const [what, needle] of needles) if (data.includes(needle)) leaks.add(`${what} on ${m.subject}`);
        for (const u of [alice.user, bob.user]) if (m.subject.includes(u)) leaks.add(`user id in subject ${m.subject}`);
      },
    });
    await tap.flush();

    const hub = await conn();
    const env: ServiceEnv = { nc: hub, log: silentLogger, clock: systemClock, secret: keys.secret, replicas: 1 };
    for (const name of ["key-directory", "delivery", "media-store", "receipt"] as const) services.push(await startService(name, env, keys));
    for (const p of ["alpha", "beta"] as const) {
      services.push(await startService("session-ratchet", { ...env, nc: await conn() }, keys, { provider: p as ProviderId }));
    }
    alpha = new ProviderApp(await conn(), "alpha" as ProviderId);
    beta = new ProviderApp(await conn(), "beta" as ProviderId);
    beta.onMessage((m) => {
      if (m.to.user === bob.user) inbox.set(m.content.id, m);
    });
    alpha.onReceipts((r) => {
      if (r.user === alice.user) for (const x of r.receipts) receipts.set(x.id, x);
    });
    for (const [app, who] of [[alpha, alice], [beta, bob]] as const) {
      const r = await app.register(who.user, who.device);
      if (E.isLeft(r)) throw new Error(`register: ${r.left.code}`);
    }

    needles.push(["text", Buffer.from(text)]);
    for (const s of sent) {
      for (const off of [0, 1000, Math.floor(s.bytes.length / 2), s.bytes.length - 32]) needles.push([`${s.kind}@${off}`, Buffer.from(s.bytes.subarray(off, off + 32))]);
      needles.push([`${s.kind} caption`, Buffer.from(s.caption)]);
      if (s.meta.fileName !== undefined) needles.push([`${s.kind} file name`, Buffer.from(s.meta.fileName)]);
      if (s.meta.waveform !== undefined) needles.push([`${s.kind} waveform`, Buffer.from(s.meta.waveform.subarray(0, 32))]);
    }
    needles.push(["thumbnail", Buffer.from(thumb.subarray(thumb.length - 48, thumb.length - 16))]);
  });

  afterAll(async () => {
    await alpha?.close();
    await beta?.close();
    for (const s of services.reverse()) await s.stop();
    for (const c of conns) await c.close();
  });

  it("sends a text and four attachments; beta decrypts each with its metadata and bytes intact", async () => {
    const to = { provider: "beta" as ProviderId, user: bob.user };
    const t = await alpha.sendText(alice, to, text);
    if (E.isLeft(t)) throw new Error(`text: ${t.left.code}`);
    for (const s of sent) {
      const r = await alpha.sendAttachment(alice, to, s.kind, s.bytes, s.meta, { caption: s.caption });
      if (E.isLeft(r)) throw new Error(`${s.kind}: ${r.left.code} ${r.left.message}`);
      s.id = r.right.id;
      s.pointer = r.right.media;
    }
    expect(new Set(sent.map((s) => Buffer.from(s.pointer!.key).toString("hex"))).size).toBe(sent.length);

    const got = await waitFor("all five messages at beta", async () => (inbox.has(t.right.id) && sent.every((s) => inbox.has(s.id!)) ? true : undefined), { timeoutMs: 30_000 });
    expect(got).toBe(true);
    const tm = inbox.get(t.right.id)!;
    expect(tm.content.body).toMatchObject({ t: "text", text });
    expect(tm.from).toMatchObject({ provider: "alpha", user: alice.user });

    for (const s of sent) {
      const body = inbox.get(s.id!)!.content.body;
      if (body.t !== "attachment") throw new Error(`${s.kind} arrived as ${body.t}`);
      expect(body.kind).toBe(s.kind);
      expect(body.caption).toBe(s.caption);
      const { id, cap, key, digest, size, ...meta } = body.media;
      void id;
      void cap;
      void key;
      void digest;
      expect(size).toBe(s.bytes.length);
      expect(Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v]))).toEqual(
        Object.fromEntries(Object.entries(s.meta).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v])),
      );
      const bytes = await beta.download(body.media);
      if (E.isLeft(bytes)) throw new Error(`${s.kind} download: ${bytes.left.code}`);
      expect(bytes.right.length).toBe(s.bytes.length);
      expect(Buffer.from(bytes.right).equals(Buffer.from(s.bytes))).toBe(true);
    }
  });

  it("routes a delivered receipt back for each of the five", async () => {
    const ids = sent.map((s) => s.id!);
    await waitFor("delivered receipts", async () => (ids.every((id) => receipts.has(id)) ? true : undefined), { timeoutMs: 20_000 });
    for (const id of ids) expect(receipts.get(id)?.status).toBe("delivered");
  });

  it("never showed the hub plaintext, metadata, an attachment key or a user id", () => {
    expect(tapped).toBeGreaterThan(100);
    // The tap really saw the video's ciphertext cross (client → store, and store → recipient at least).
    expect(tappedBytes).toBeGreaterThan(2 * VIDEO_BYTES);
    // Attachment keys are known only once sent, so the messages that could carry them are scanned now.
    const keyNeedles = sent.flatMap((s): Array<[string, Buffer]> => [
      [`${s.kind} aes key`, Buffer.from(s.pointer!.key.subarray(0, 16))],
      [`${s.kind} mac key`, Buffer.from(s.pointer!.key.subarray(32, 48))],
    ]);
    expect(small.length).toBeGreaterThan(50);
    for (const m of small) for (const [what, needle] of [...keyNeedles, ...needles]) if (m.data.includes(needle)) leaks.add(`${what} on ${m.subject}`);
    expect([...leaks]).toEqual([]);
  });
});
