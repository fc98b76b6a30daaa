/**
 * One deployment in this test process for the whole-system faults (`outage.test.ts`,
 * `restart.test.ts`): one nats-server, every hub service and both providers' session-ratchets on
 * their own reconnecting connections, a recording app per provider, two senders and four
 * two-device recipients. Call inside a `describe`: it registers the block's set-up and tear-down.
 */
import { afterAll, beforeAll, expect } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { TestTopology } from "@interlink/testing";
import { connect, startSingle, useTopology } from "@interlink/testing";
import type { RunningService } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import type { LocalDevice } from "@interlink/client";
import { InterlinkClient } from "@interlink/client";
import { startDelivery } from "@interlink/delivery";
import { startKeyDirectory } from "@interlink/key-directory";
import { startMediaStore } from "@interlink/media-store";
import { startReceipt } from "@interlink/receipt";
import { startSessionRatchet } from "@interlink/session-ratchet";
import type { ProviderId, UserId } from "@interlink/subjects";
import type { Ledger } from "./harness.js";
import { QuickMediaClient, RecordingApp, alpha, beta, device, newKeys, runPool, sendWithRetry, user } from "./harness.js";

/** The ratchets' sweep: how often every hosted device is drained without an event. */
export const SWEEP_MS = 1_000;

export interface Deployment {
  topo(): TestTopology;
  conn(): Promise<NatsConnection>;
  readonly senders: readonly LocalDevice[];
  readonly recipients: readonly UserId[];
  /** The recipients' app (provider beta). */
  app(): RecordingApp;
  alphaClient(): QuickMediaClient;
  betaClient(): QuickMediaClient;
  startHub(): Promise<void>;
  stopHub(): Promise<void>;
  startEdge(provider: ProviderId): Promise<void>;
  stopEdge(provider: ProviderId): Promise<void>;
  /** Sends `count` texts from the senders to `to` (default: every recipient, 2 devices each) into `ledger`. */
  sendTexts(ledger: Ledger, label: string, count: number, progress?: () => void, to?: readonly UserId[]): Promise<void>;
}

export const useDeployment = (): Deployment => {
  const topo = useTopology(() => startSingle());
  const keys = newKeys();
  const conns: NatsConnection[] = [];
  let hub: RunningService[] = [];
  const edges = new Map<ProviderId, RunningService>();
  const edgeClients: InterlinkClient[] = [];
  const senders = Array.from({ length: 2 }, (): LocalDevice => ({ user: user("sender"), device: device(1) }));
  const recipients = Array.from({ length: 4 }, () => user("recipient"));
  let app: RecordingApp;
  /** The senders' app: takes the delivered receipts that come back (they queue until it does). */
  let senderApp: RecordingApp;
  let alphaClient: QuickMediaClient;
  let betaClient: QuickMediaClient;

  const conn = async () => {
    const nc = await connect(topo().url, { reconnect: true });
    conns.push(nc);
    return nc;
  };
  const env = async () => ({ nc: await conn(), log: silentLogger, clock: systemClock, secret: keys.secret, replicas: 1 });

  const startHub = async () => {
    hub = [await startKeyDirectory(await env()), await startDelivery(await env()), await startMediaStore(await env()), await startReceipt(await env(), { batchWindowMs: 10 })];
  };
  const stopHub = async () => {
    for (const s of hub.reverse()) await s.stop();
    hub = [];
  };
  const startEdge = async (provider: ProviderId) => {
    const e = await env();
    const client = new InterlinkClient(e.nc, provider, { timeoutMs: 2_000 });
    edgeClients.push(client);
    edges.set(provider, await startSessionRatchet(e, { provider, client, atRestKey: keys.atRestKey, workers: 0, sweepMs: SWEEP_MS, preKeys: 10 }));
  };
  const stopEdge = async (provider: ProviderId) => {
    await edges.get(provider)?.stop();
    edges.delete(provider);
  };

  beforeAll(async () => {
    await startHub();
    await startEdge(alpha);
    await startEdge(beta);
    alphaClient = new QuickMediaClient(await conn(), alpha, 2_000);
    betaClient = new QuickMediaClient(await conn(), beta, 2_000);
    app = new RecordingApp(await conn(), beta);
    senderApp = new RecordingApp(app.nc, alpha);
    await app.nc.flush();
    for (const s of senders) expect(E.isRight(await alphaClient.ratchet.register(s))).toBe(true);
    for (const r of recipients) for (const d of [1, 2]) expect(E.isRight(await betaClient.ratchet.register({ user: r, device: device(d) }))).toBe(true);
  });

  afterAll(async () => {
    app?.close();
    senderApp?.close();
    alphaClient?.close();
    betaClient?.close();
    for (const p of [...edges.keys()]) await stopEdge(p);
    await stopHub();
    for (const c of edgeClients) c.close();
    for (const c of conns) await c.close().catch(() => undefined);
  });

  const sendTexts = (ledger: Ledger, label: string, count: number, progress?: () => void, to: readonly UserId[] = recipients) =>
    runPool(count, 8, async (i) => {
      const dest = { provider: beta, user: to[i % to.length]! };
      const id = `${label}-${i}`;
      const r = await sendWithRetry(alphaClient, senders[i % senders.length]!, dest, id, { t: "text", text: `reliability ${label} ${i}` }, { timeoutMs: 2_000, deadlineMs: 60_000 });
      if (r.outcome === "failed") ledger.fail(id, r.code ?? "unknown", r.attempts);
      else ledger.accept(id, [`${dest.user}/1`, `${dest.user}/2`], r.outcome, r.attempts);
      progress?.();
    });

  return {
    topo,
    conn,
    senders,
    recipients,
    app: () => app,
    alphaClient: () => alphaClient,
    betaClient: () => betaClient,
    startHub,
    stopHub,
    startEdge,
    stopEdge,
    sendTexts,
  };
};
