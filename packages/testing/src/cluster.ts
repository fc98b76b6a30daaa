import { freePort, type NatsServerHandle } from "@interlink/natsd";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect } from "./connect.js";
import { buildTopology } from "./group.js";
import { toTestTopology } from "./topology.js";
import type { ClusterOptions, TestTopology } from "./types.js";
import { monitor, waitFor } from "./wait.js";

const CLUSTER_NAME = "interlink-test";
const FORM_TIMEOUT_MS = 30_000;

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

interface Routez {
  num_routes?: number;
}
interface Jsz {
  meta_cluster?: { leader?: string; replicas?: Array<{ current?: boolean }> };
}

async function waitForRoutes(servers: readonly NatsServerHandle[]): Promise<void> {
  const want = servers.length - 1;
  await waitFor(
    `${want} routes on each of ${servers.length} servers`,
    async () => {
      const routez = await Promise.all(servers.map((s) => monitor<Routez>(s.httpPort, "/routez")));
      return routez.every((r) => (r.num_routes ?? 0) >= want) ? true : undefined;
    },
    { timeoutMs: FORM_TIMEOUT_MS },
  );
}

/**
 * On 2.9 the JetStream API answers only after a meta leader exists, and an R3 stream can be
 * placed only once the leader sees every peer as current; both are awaited here.
 */
async function waitForJetStreamMeta(servers: readonly NatsServerHandle[]): Promise<void> {
  const connections: NatsConnection[] = [];
  try {
    for (const s of servers) connections.push(await connect(s));
    const managers = await Promise.all(connections.map((nc) => jetstreamManager(nc, { checkAPI: false, timeout: 1000 })));
    await waitFor(
      "a JetStream meta leader that sees every peer",
      async () => {
        await Promise.all(managers.map((m) => m.getAccountInfo()));
        const jsz = await Promise.all(servers.map((s) => monitor<Jsz>(s.httpPort, "/jsz")));
        const leader = jsz.find((j) => j.meta_cluster?.leader !== undefined && j.meta_cluster.replicas !== undefined);
        const current = leader?.meta_cluster?.replicas?.filter((r) => r.current === true).length ?? 0;
        return current >= servers.length - 1 ? true : undefined;
      },
      { timeoutMs: FORM_TIMEOUT_MS },
    );
  } finally {
    await Promise.allSettled(connections.map((nc) => nc.close()));
  }
}

/**
 * A cluster of `size` servers named n1..nN with routes to each other, resolved once routes
 * are up and (with JetStream) a meta leader sees every peer, so R3 streams can be created.
 */
export function startCluster(opts: ClusterOptions = {}): Promise<TestTopology> {
  const size = opts.size ?? 3;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`cluster size must be >= 1, got ${size}`);
  const jetstream = opts.jetstream ?? true;
  return buildTopology("cluster", async (group) => {
    const clusterPorts = await distinctFreePorts(size);
    const routes = clusterPorts.map((p) => `nats-route://127.0.0.1:${p}`);
    const servers = await group.startAll(
      clusterPorts.map((port, i) => {
        const name = `n${i + 1}`;
        return [
          name,
          {
            serverName: name,
            httpPort: 0,
            jetstream,
            cluster: { name: CLUSTER_NAME, port, routes: routes.filter((_, j) => j !== i) },
            extra: opts.extra,
            accounts: opts.accounts,
          },
        ] as const;
      }),
    );
    if (size > 1) await waitForRoutes(servers);
    if (jetstream && size > 1) await waitForJetStreamMeta(servers);
    return toTestTopology(group);
  });
}
