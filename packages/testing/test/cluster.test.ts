import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { connect, startCluster, useTopology } from "../src/index.js";

describe("startCluster", () => {
  const cluster = useTopology(() => startCluster());

  it("routes a message from n1 to a subscriber on n3", async () => {
    const [n1, , n3] = cluster().servers;
    if (!n1 || !n3) throw new Error("expected three servers");
    expect(cluster().servers.map((s) => s.serverName)).toEqual(["n1", "n2", "n3"]);
    const pub = await connect(n1);
    const sub = await connect(n3);
    try {
      const received = new Promise<string>((resolve) => {
        sub.subscribe("route.check", { max: 1, callback: (_err, m) => resolve(m.string()) });
      });
      await sub.flush();
      // Interest crosses the route asynchronously; resend until it has arrived.
      const timer = setInterval(() => pub.publish("route.check", "from n1"), 50);
      try {
        expect(await received).toBe("from n1");
      } finally {
        clearInterval(timer);
      }
      expect(pub.info?.server_name).toBe("n1");
      expect(sub.info?.server_name).toBe("n3");
    } finally {
      await Promise.all([pub.close(), sub.close()]);
    }
  });

  it("creates an R3 stream", async () => {
    const nc = await connect(cluster());
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.add({ name: "R3CHECK", subjects: ["r3.>"], num_replicas: 3 });
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.replicas?.length).toBe(2);
      const js = jsm.jetstream();
      const ack = await js.publish("r3.one", "x");
      expect(ack.seq).toBe(1);
    } finally {
      await nc.close();
    }
  });
});
