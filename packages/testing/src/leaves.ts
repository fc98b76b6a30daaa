import type { NatsServerHandle } from "@interlink/natsd";
import { connect, waitForDelivery } from "./connect.js";
import { buildTopology } from "./group.js";
import type { HubOptions, HubTopology, LeafSpec } from "./types.js";
import { monitor, waitFor } from "./wait.js";

const HUB_NAME = "hub";
const LEAF_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function validateLeaves(leaves: readonly LeafSpec[]): void {
  const seen = new Set<string>([HUB_NAME]);
  for (const leaf of leaves) {
    if (!LEAF_NAME.test(leaf.name)) throw new RangeError(`leaf name must match ${LEAF_NAME}, got ${leaf.name}`);
    if (seen.has(leaf.name)) throw new RangeError(`duplicate leaf name ${leaf.name}`);
    seen.add(leaf.name);
  }
}

/** Both directions carry a message, so subscriptions made later only wait for interest to spread. */
async function probeLink(hub: NatsServerHandle, leaf: NatsServerHandle, name: string): Promise<void> {
  const [hubConn, leafConn] = await Promise.all([connect(hub), connect(leaf)]);
  try {
    await waitForDelivery(leafConn, hubConn, `_INTERLINK.probe.${name}.up`);
    await waitForDelivery(hubConn, leafConn, `_INTERLINK.probe.${name}.down`);
  } finally {
    await Promise.allSettled([hubConn.close(), leafConn.close()]);
  }
}

/**
 * A hub accepting leafnode connections and one leaf server per entry (a provider's own NATS).
 * JetStream domains keep the APIs apart: "hub" for the hub, the leaf's name for each leaf.
 * Resolves once every leaf link carries messages both ways.
 */
export function startHubWithLeaves(opts: HubOptions): Promise<HubTopology> {
  validateLeaves(opts.leaves);
  return buildTopology("leaves", async (group) => {
    const hub = await group.start(HUB_NAME, {
      serverName: HUB_NAME,
      httpPort: 0,
      leafnodes: { port: 0 },
      jetstream: (opts.hubJetstream ?? true) ? { domain: HUB_NAME } : false,
      extra: opts.hubExtra,
    });
    const leafUrl = `nats-leaf://127.0.0.1:${hub.leafPort ?? 0}`;
    const started = await group.startAll(
      opts.leaves.map((leaf) => [
        leaf.name,
        {
          serverName: leaf.name,
          httpPort: 0,
          jetstream: leaf.jetstream === true ? { domain: leaf.name } : false,
          leafRemotes: [{ url: leafUrl, denyExports: leaf.denyExports, denyImports: leaf.denyImports }],
        },
      ]),
    );
    await waitFor(`${opts.leaves.length} leafnode connections on the hub`, async () => {
      const leafz = await monitor<{ leafnodes?: number }>(hub.httpPort, "/leafz");
      return (leafz.leafnodes ?? 0) >= opts.leaves.length ? true : undefined;
    });
    const leaves: Record<string, NatsServerHandle> = {};
    opts.leaves.forEach((spec, i) => {
      const server = started[i];
      if (server !== undefined) leaves[spec.name] = server;
    });
    await Promise.all(Object.entries(leaves).map(([name, leaf]) => probeLink(hub, leaf, name)));
    return {
      hub,
      leaves,
      servers: [...group.servers],
      stop: () => group.stop(),
      logs: () => group.logs(),
    };
  });
}
