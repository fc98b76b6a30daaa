import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, startSingle, useTopology } from "@interlink/testing";
import type { RunningService } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import type { InboundMessage } from "@interlink/client";
import { InterlinkClient, downloadAttachment, uploadAttachment } from "@interlink/client";
import { startReceipt } from "@interlink/receipt";
import { startSessionRatchet } from "@interlink/session-ratchet";
import type { AttachmentPointer, ContentBody } from "@interlink/wire";
import type { Child, LedgerSummary } from "./harness.js";
import {
  Ledger,
  QuickMediaClient,
  RecordingApp,
  alpha,
  beta,
  device,
  killHard,
  microRequests,
  newKeys,
  report,
  runPool,
  scaled,
  sendWithRetry,
  sleep,
  spawnService,
  stopChild,
  tag,
  until,
  user,
} from "./harness.js";

const HUB = ["delivery", "key-directory", "media-store"] as const;
type HubName = (typeof HUB)[number];
/** kill -9s per phase (benchmarks/reliability/run.sh raises it). */
const KILLS = Math.max(1, Number(process.env["INTERLINK_RELIABILITY_KILLS"] ?? 1));
/** Their NATS micro names are interlink-<this>. */
const MICRO: Record<HubName, string> = { delivery: "delivery", "key-directory": "keys", "media-store": "media" };

/**
 * kill -9 of one hub instance (delivery, key-directory, media-store) mid-load, one fault per
 * phase. Each hub service runs as two `interlink service <name>` child processes on one
 * nats-server; the providers' session-ratchets and apps run here. The sender's app retries with
 * the same message id; the recipient's app counts what it is shown per (message id, device).
 */
describe("kill -9 of a hub service instance mid-load", () => {
  const topo = useTopology(() => startSingle());
  const keys = newKeys();
  const dataDir = mkdtempSync(join(tmpdir(), "interlink-reliability-"));
  const instances = new Map<HubName, Child[]>();
  const conns: NatsConnection[] = [];
  const services: RunningService[] = [];
  const clients: InterlinkClient[] = [];
  const senders = Array.from({ length: 4 }, () => ({ user: user("sender"), device: device(1) }));
  const recipients = Array.from({ length: 4 }, () => user("recipient"));
  let spawned = 0;
  let uploads = 0;
  let app: RecordingApp;
  /** The senders' app: takes the delivered receipts that come back (they queue until it does). */
  let senderApp: RecordingApp;
  let sendClient: QuickMediaClient;
  let fetchClient: QuickMediaClient;

  const conn = async () => {
    const nc = await connect(topo().url, { reconnect: true });
    conns.push(nc);
    return nc;
  };
  const spawn = (name: HubName): Child => spawnService(name, topo().url, keys, join(dataDir, String(++spawned)));

  beforeAll(async () => {
    for (const name of HUB) instances.set(name, [spawn(name), spawn(name)]);
    await Promise.all([...instances.values()].flat().map((c) => c.ready));
    const env = { log: silentLogger, clock: systemClock, secret: keys.secret, replicas: 1 };
    services.push(await startReceipt({ ...env, nc: await conn() }, { batchWindowMs: 10 }));
    for (const provider of [alpha, beta]) {
      const nc = await conn();
      // Hub calls time out after 2 s: a request that went to a killed instance is retried soon.
      const client = new InterlinkClient(nc, provider, { timeoutMs: 2_000 });
      clients.push(client);
      services.push(await startSessionRatchet({ ...env, nc }, { provider, client, atRestKey: keys.atRestKey, workers: 0, sweepMs: 1_000, preKeys: 10 }));
    }
    sendClient = new QuickMediaClient(await conn(), alpha);
    fetchClient = new QuickMediaClient(await conn(), beta);
    clients.push(sendClient, fetchClient);
    app = new RecordingApp(await conn(), beta);
    senderApp = new RecordingApp(app.nc, alpha);
    await app.nc.flush();
    for (const s of senders) expect(E.isRight(await sendClient.ratchet.register(s))).toBe(true);
    for (const r of recipients) for (const d of [1, 2]) expect(E.isRight(await fetchClient.ratchet.register({ user: r, device: device(d) }))).toBe(true);
  });

  afterAll(async () => {
    app?.close();
    senderApp?.close();
    for (const s of services.reverse()) await s.stop();
    for (const c of clients) c.close();
    await Promise.all([...instances.values()].flat().map((c) => stopChild(c)));
    for (const c of conns) await c.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Uploads until one upload commits (a fresh upload after a failed one). */
  const upload = async (bytes: Uint8Array, deadline: number): Promise<AttachmentPointer | string> => {
    for (;;) {
      uploads++;
      const up = await uploadAttachment(sendClient, "image", bytes, { mime: "image/png" }, { window: 2, retries: 8 });
      if (E.isRight(up)) return up.right;
      if (Date.now() > deadline) return up.left.code;
      await sleep(100);
    }
  };

  const phase = async (
    victim: HubName,
    count: number,
    attachments: boolean,
  ): Promise<LedgerSummary & { downloads: number; badDownloads: number; victimServed: number; uploads: number }> => {
    const ledger = new Ledger();
    app.ledger = ledger;
    app.errors.length = 0;
    const blobs = new Map<string, string>();
    const pointers = new Map<string, AttachmentPointer>();
    app.onShown = (m: InboundMessage) => {
      if (m.content.body.t === "attachment" && !pointers.has(m.content.id)) pointers.set(m.content.id, m.content.body.media);
    };
    const run = tag();
    let done = 0;
    uploads = 0;
    const load = runPool(count, 16, async (i) => {
      const from = senders[i % senders.length]!;
      const to = { provider: beta, user: recipients[(i * 3 + 1) % recipients.length]! };
      const id = `${victim}-${run}-${i}`;
      let content: ContentBody = { t: "text", text: `reliability ${run} ${i}` };
      if (attachments) {
        const bytes = randomBytes(8_000 + i * 97);
        blobs.set(id, createHash("sha256").update(bytes).digest("hex"));
        const p = await upload(bytes, Date.now() + 45_000);
        if (typeof p === "string") {
          ledger.fail(id, `upload:${p}`, 1);
          done++;
          return;
        }
        content = { t: "attachment", kind: "image", media: p };
      }
      const r = await sendWithRetry(sendClient, from, to, id, content, { timeoutMs: 4_000, deadlineMs: 45_000 });
      if (r.outcome === "failed") ledger.fail(id, r.code ?? "unknown", r.attempts);
      else ledger.accept(id, [`${to.user}/1`, `${to.user}/2`], r.outcome, r.attempts);
      done++;
    });
    // Mid-load (a quarter of the sends through; with KILLS > 1, evenly spread): kill -9 one
    // instance, and start a replacement as a supervisor would.
    const list = instances.get(victim)!;
    let victimServed = 0;
    let kills = 0;
    for (let k = 1; k <= KILLS; k++) {
      await until(() => done >= (count * k) / (KILLS === 1 ? 4 : KILLS + 1), 120_000, 5);
      if (done >= count) break;
      const before = await microRequests(app.nc, MICRO[victim]);
      await killHard(list[0]!);
      kills++;
      const after = await microRequests(app.nc, MICRO[victim]);
      // The killed instance is the one that no longer answers; it had been taking its share.
      victimServed += [...before].filter(([id]) => !after.has(id)).reduce((n, [, r]) => n + r, 0);
      list[0] = spawn(victim);
      await list[0].ready;
    }
    await load;

    await until(() => ledger.missing() === 0, 30_000);
    // Every attachment shown must still download and match what was sent.
    let downloads = 0;
    let badDownloads = 0;
    for (const [id, p] of pointers) {
      const got = await downloadAttachment(fetchClient, p, { retries: 8 });
      downloads++;
      if (E.isLeft(got) || createHash("sha256").update(got.right).digest("hex") !== blobs.get(id)) badDownloads++;
    }
    app.onShown = undefined;
    const s = ledger.summary();
    report(`kill -9 ${victim} instance (1 of 2) mid-load`, { ...s, kills, downloads, badDownloads, uploads, victimServed, errorsToApp: app.errorCodes() });
    return { ...s, downloads, badDownloads, uploads, victimServed };
  };

  it("delivery: every accepted message reaches each recipient device once", async () => {
    const s = await phase("delivery", scaled(120), false);
    expect(s).toMatchObject({ failed: 0, lost: 0, duplicates: 0, unexpected: 0 });
    expect(s.accepted).toBe(scaled(120));
    expect(s.victimServed).toBeGreaterThan(0);
    expect(instances.get("delivery")!.every((c) => c.alive())).toBe(true);
  });

  it("key-directory: every accepted message reaches each recipient device once", async () => {
    const s = await phase("key-directory", scaled(120), false);
    expect(s).toMatchObject({ failed: 0, lost: 0, duplicates: 0, unexpected: 0 });
    expect(s.victimServed).toBeGreaterThan(0);
  });

  it("media-store: every accepted attachment message arrives once and its blob downloads intact", async () => {
    const n = scaled(30);
    const s = await phase("media-store", n, true);
    expect(s).toMatchObject({ failed: 0, lost: 0, duplicates: 0, unexpected: 0, badDownloads: 0 });
    expect(s.downloads).toBe(n);
    expect(s.victimServed).toBeGreaterThan(0);
  });
});
