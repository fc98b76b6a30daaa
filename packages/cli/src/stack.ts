import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger, RunningService, ServiceEnv } from "@interlink/actor";
import { systemClock } from "@interlink/actor";
import { InterlinkClient } from "@interlink/client";
import { deliveryOptionsFromEnv, startDelivery } from "@interlink/delivery";
import { startKeyDirectory } from "@interlink/key-directory";
import { mediaOptionsFromEnv, startMediaStore } from "@interlink/media-store";
import type { NatsServerHandle } from "@interlink/natsd";
import { findNatsServer, freePort, startNatsServer } from "@interlink/natsd";
import { startReceipt } from "@interlink/receipt";
import { startSessionRatchet } from "@interlink/session-ratchet";
import type { ProviderId } from "@interlink/subjects";
import { Service } from "@interlink/subjects";
import { nkeyFileAuthenticator } from "@interlink/providers";
import * as E from "fp-ts/lib/Either.js";

export const HUB_SERVICES = ["key-directory", "delivery", "media-store", "receipt"] as const;
export const SERVICE_NAMES = [...HUB_SERVICES, "session-ratchet"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const isServiceName = (s: string): s is ServiceName => (SERVICE_NAMES as readonly string[]).includes(s);

export interface Keys {
  readonly secret: Uint8Array;
  readonly atRestKey: Uint8Array;
}

/** Starts nats-server as a child process with its JetStream data under `dataDir/nats`. */
export const startEmbeddedNats = async (dataDir: string, port: number | undefined, log: Logger): Promise<NatsServerHandle> => {
  const binary = await findNatsServer({ install: true, log: (l) => log.info(l) });
  const storeDir = join(dataDir, "nats");
  mkdirSync(storeDir, { recursive: true });
  // 4222 when free, so `--nats nats://127.0.0.1:4222` works from another shell; else any port.
  const chosen = port ?? (await portIfFree(4222));
  return startNatsServer({ binary, port: chosen, jetstream: { storeDir }, workDir: join(dataDir, "nats-run"), serverName: "interlink" });
};

const portIfFree = async (p: number): Promise<number> => {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => void freePort().then(resolve));
    s.listen(p, "127.0.0.1", () => s.close(() => resolve(p)));
  });
};

/** A long-lived service connection; with `nkeySeedFile`, authenticated by that nkey (read at each connect). */
export const connectNats = (url: string, name: string, nkeySeedFile?: string): Promise<NatsConnection> =>
  connect({
    servers: url.split(",").map((u) => u.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    ...(nkeySeedFile !== undefined ? { authenticator: nkeyFileAuthenticator(nkeySeedFile) } : {}),
  });

export const startService = async (
  name: ServiceName,
  env: ServiceEnv,
  keys: Keys,
  opts: { provider?: ProviderId; retentionDays?: number; ratchetWorkers?: number; natsUrl?: string } = {},
): Promise<RunningService & { client?: InterlinkClient }> => {
  switch (name) {
    case "key-directory":
      return startKeyDirectory(env);
    case "delivery":
      // Quotas, limits and windows from INTERLINK_DELIVERY_* (docs/delivery.md).
      return startDelivery(env, { ...deliveryOptionsFromEnv(process.env), retentionMs: (opts.retentionDays ?? 30) * 24 * 3600 * 1000 });
    case "media-store":
      // Limits, retention and upload TTL from INTERLINK_MEDIA_* (docs/media.md).
      return startMediaStore(env, mediaOptionsFromEnv(process.env));
    case "receipt":
      return startReceipt(env);
    case "session-ratchet": {
      if (opts.provider === undefined) throw new Error("session-ratchet needs a provider");
      const client = new InterlinkClient(env.nc, opts.provider);
      const svc = await startSessionRatchet(env, {
        provider: opts.provider,
        client,
        atRestKey: keys.atRestKey,
        workers: opts.ratchetWorkers ?? 0,
        ...(opts.natsUrl !== undefined ? { natsServers: opts.natsUrl } : {}),
      });
      return {
        ...svc,
        client,
        stop: async () => {
          await svc.stop();
          client.close();
        },
      };
    }
  }
};

export interface Stack {
  readonly services: RunningService[];
  stop(): Promise<void>;
}

/** key-directory, delivery, media-store and receipt on one connection (the hub's account). */
export const startHubServices = async (
  nc: NatsConnection,
  log: Logger,
  keys: Keys,
  opts: { replicas: number; retentionDays?: number },
): Promise<RunningService[]> => {
  const env: ServiceEnv = { nc, log, clock: systemClock, secret: keys.secret, replicas: opts.replicas };
  const services: RunningService[] = [];
  for (const name of HUB_SERVICES) {
    services.push(await startService(name, { ...env, log: log.child({ service: name }) }, keys, opts));
  }
  return services;
};

/**
 * Every hub service plus a session-ratchet per provider, on one connection: the single-account
 * development mode (isolation off), for a plain nats-server.
 */
export const startStack = async (
  nc: NatsConnection,
  log: Logger,
  keys: Keys,
  opts: { replicas: number; providers: readonly ProviderId[]; retentionDays?: number; ratchetWorkers?: number; natsUrl?: string },
): Promise<Stack> => {
  const env: ServiceEnv = { nc, log, clock: systemClock, secret: keys.secret, replicas: opts.replicas };
  const services: RunningService[] = await startHubServices(nc, log, keys, opts);
  for (const provider of opts.providers) {
    services.push(
      await startService("session-ratchet", { ...env, log: log.child({ service: "session-ratchet", provider }) }, keys, {
        provider,
        ...(opts.ratchetWorkers !== undefined ? { ratchetWorkers: opts.ratchetWorkers } : {}),
        ...(opts.natsUrl !== undefined ? { natsUrl: opts.natsUrl } : {}),
      }),
    );
  }
  return {
    services,
    stop: async () => {
      for (const s of [...services].reverse()) await s.stop();
    },
  };
};

/** Resolves once every service answers a ping (or rejects after `timeoutMs`). */
export const waitReady = (nc: NatsConnection, providers: readonly ProviderId[], timeoutMs = 30_000): Promise<void> => {
  const probe = providers[0] ?? ("ops" as ProviderId);
  return waitAnswers(
    nc,
    [
      [probe, Service.Keys],
      [probe, Service.Delivery],
      [probe, Service.Media],
      [probe, Service.Receipt],
      ...providers.map((p): [ProviderId, Service] => [p, Service.Ratchet]),
    ],
    timeoutMs,
  );
};

/** Resolves once each (provider, service) answers a ping on `nc`. */
export const waitAnswers = async (nc: NatsConnection, checks: ReadonlyArray<readonly [ProviderId, Service]>, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  const clients = new Map<ProviderId, InterlinkClient>();
  try {
    for (const [p, svc] of checks) {
      let c = clients.get(p);
      if (c === undefined) clients.set(p, (c = new InterlinkClient(nc, p)));
      for (;;) {
        const r = await c.ping(svc, { timeoutMs: 2_000 });
        if (E.isRight(r)) break;
        if (Date.now() > deadline) throw new Error(`service ${svc} did not answer: ${r.left.code}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  } finally {
    for (const c of clients.values()) c.close();
  }
};
