import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger, RunningService, ServiceEnv } from "@interlink/actor";
import { systemClock } from "@interlink/actor";
import type { NatsServerHandle } from "@interlink/natsd";
import type { ProviderId } from "@interlink/subjects";
import { Service } from "@interlink/subjects";
import { ProviderRegistry } from "@interlink/providers";
import type { EmbeddedHub } from "./hub.js";
import { startAccountsHub, startProviderServer, writeRunInfo } from "./hub.js";
import { Enrollment } from "./enrollment.js";
import type { Keys } from "./stack.js";
import { connectNats, startHubServices, startService, waitAnswers } from "./stack.js";

export interface Edge {
  readonly provider: ProviderId;
  /** The provider's own nats-server, a leafnode of the hub. */
  readonly server: NatsServerHandle;
  /** The session-ratchet's connection to it. */
  readonly nc: NatsConnection;
  readonly ratchet: RunningService;
}

export interface Topology {
  readonly hub: EmbeddedHub;
  /** The hub services' connection (account HUB). */
  readonly nc: NatsConnection;
  readonly services: RunningService[];
  readonly edges: ReadonlyMap<ProviderId, Edge>;
  readonly enrollment: Enrollment;
  readonly registry: ProviderRegistry;
  stop(): Promise<void>;
}

export interface TopologyOptions {
  readonly dataDir: string;
  readonly port?: number | undefined;
  readonly leafPort?: number | undefined;
  /** Providers whose own server and session-ratchet run here; enrolled first if they are not. */
  readonly providers: readonly ProviderId[];
  readonly log: Logger;
  readonly keys: Keys;
  readonly replicas: number;
  readonly retentionDays?: number;
  /** Written to DATA/run.json for `interlink provider` and `interlink demo --nats`. */
  readonly publishRunInfo?: boolean;
  readonly readyTimeoutMs?: number;
}

/**
 * The deployable shape on one machine: the hub's nats-server with accounts (HUB + one per
 * provider) and the hub services as HUB; each hosted provider gets its own nats-server joined as
 * a leafnode (bound to its account on the hub, `ilk.ratchet.>` denied both ways) with its
 * session-ratchet on it. Apps connect to their provider's server.
 */
export const startTopology = async (o: TopologyOptions): Promise<Topology> => {
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    stops.length = 0;
  };
  try {
    const hub = await startAccountsHub(o.dataDir, { port: o.port, leafPort: o.leafPort, log: o.log });
    stops.push(() => hub.server.stop());
    o.log.info("hub nats-server started", { url: hub.url, leaf: hub.leafUrl, pid: hub.server.pid });
    const nc = await connectNats(hub.url, "interlink-hub", hub.paths.hubSeed);
    stops.push(() => nc.drain().catch(() => undefined));
    const services = await startHubServices(nc, o.log, o.keys, { replicas: o.replicas, ...(o.retentionDays !== undefined ? { retentionDays: o.retentionDays } : {}) });
    stops.push(async () => {
      for (const s of [...services].reverse()) await s.stop();
    });
    const registry = await ProviderRegistry.open(nc, { replicas: o.replicas });
    const enrollment = new Enrollment(
      nc,
      registry,
      o.dataDir,
      hub.hubNkey,
      { accountsFile: hub.paths.accountsFile, hubUrl: hub.url, leafUrl: hub.leafUrl, reload: () => hub.server.reload() },
      o.log,
    );
    // Enrollments made while the hub was down (or a first start) take effect now.
    await enrollment.apply();
    for (const p of o.providers) {
      const r = await registry.get(p);
      if (r?.value.status !== "active") await enrollment.add(p, { contact: "enrolled by interlink up" });
    }

    const edges = new Map<ProviderId, Edge>();
    for (const provider of o.providers) {
      const server = await startProviderServer(o.dataDir, provider, hub.leafUrl);
      stops.push(() => server.stop());
      const enc = await connectNats(server.url, `interlink-edge-${provider}`);
      stops.push(() => enc.drain().catch(() => undefined));
      const env: ServiceEnv = {
        nc: enc,
        log: o.log.child({ service: "session-ratchet", provider }),
        clock: systemClock,
        secret: o.keys.secret,
        replicas: 1,
      };
      const ratchet = await startService("session-ratchet", env, o.keys, { provider });
      stops.push(() => ratchet.stop());
      edges.set(provider, { provider, server, nc: enc, ratchet });
    }

    const timeout = o.readyTimeoutMs ?? 30_000;
    const probe = o.providers[0] ?? ("ops" as ProviderId);
    await waitAnswers(nc, [Service.Keys, Service.Delivery, Service.Media, Service.Receipt].map((s) => [probe, s] as const), timeout);
    // Through each provider's own server: its ratchet, and the hub across the leafnode link.
    for (const e of edges.values()) await waitAnswers(e.nc, [[e.provider, Service.Ratchet], [e.provider, Service.Keys], [e.provider, Service.Delivery]], timeout);

    if (o.publishRunInfo === true) {
      writeRunInfo(hub.paths, {
        v: 1,
        pid: process.pid,
        natsPid: hub.server.pid,
        natsUrl: hub.url,
        leafUrl: hub.leafUrl,
        isolation: true,
        edges: Object.fromEntries([...edges.values()].map((e) => [e.provider, { url: e.server.url, pid: e.server.pid }])),
      });
    }
    return {
      hub,
      nc,
      services: [...services, ...[...edges.values()].map((e) => e.ratchet)],
      edges,
      enrollment,
      registry,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
};
