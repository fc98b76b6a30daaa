import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { connect, startHubWithLeaves, useTopology, waitForDelivery } from "../src/index.js";

describe("startHubWithLeaves", () => {
  const topology = useTopology(() =>
    startHubWithLeaves({
      leaves: [
        { name: "alpha", denyExports: ["ilk.ratchet.>"] },
        { name: "beta", denyExports: ["ilk.ratchet.>"] },
      ],
    }),
  );

  it("carries a message from leaf alpha to leaf beta through the hub", async () => {
    const { leaves, servers } = topology();
    expect(servers.map((s) => s.serverName)).toEqual(["hub", "alpha", "beta"]);
    const [a, b] = await Promise.all([connect(leaves.alpha!), connect(leaves.beta!)]);
    try {
      await waitForDelivery(a, b, "ilk.delivery.v1.send.alpha");
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("keeps leaf alpha's denied exports inside alpha", async () => {
    const { hub, leaves } = topology();
    const [onHub, onAlpha, publisher] = await Promise.all([connect(hub), connect(leaves.alpha!), connect(leaves.alpha!)]);
    try {
      const hubGot: string[] = [];
      onHub.subscribe("ilk.>", { callback: (_e, m) => void hubGot.push(m.subject) });
      const alphaGot: string[] = [];
      onAlpha.subscribe("ilk.ratchet.>", { callback: (_e, m) => void alphaGot.push(m.subject) });
      await Promise.all([onHub.flush(), onAlpha.flush()]);
      // The hub's interest must have reached alpha, or the negative check below proves nothing.
      await waitForDelivery(publisher, onHub, "ilk.keys.v1.probe.alpha");

      publisher.publish("ilk.ratchet.v1.encrypt.alpha", "plaintext");
      await publisher.flush();
      await new Promise((r) => setTimeout(r, 300));
      expect(alphaGot).toEqual(["ilk.ratchet.v1.encrypt.alpha"]);
      expect(hubGot.filter((s) => s.startsWith("ilk.ratchet."))).toEqual([]);
    } finally {
      await Promise.all([onHub.close(), onAlpha.close(), publisher.close()]);
    }
  });
});

describe("leaves with JetStream", () => {
  const topology = useTopology(() => startHubWithLeaves({ leaves: [{ name: "gamma", jetstream: true }] }));

  it("gives the leaf its own JetStream domain", async () => {
    const nc = await connect(topology().leaves.gamma!);
    try {
      const local = await (await jetstreamManager(nc)).getAccountInfo();
      expect(local.domain).toBe("gamma");
      const viaHub = await (await jetstreamManager(nc, { domain: "hub" })).getAccountInfo();
      expect(viaHub.domain).toBe("hub");
    } finally {
      await nc.close();
    }
  });
});
