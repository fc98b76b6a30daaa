import { existsSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { connect, startSingle, useTopology } from "../src/index.js";

describe("startSingle", () => {
  const topology = useTopology(() => startSingle());

  it("carries pub/sub and has JetStream", async () => {
    const nc = await connect(topology());
    try {
      const sub = nc.subscribe("greet.*", { max: 1 });
      nc.publish("greet.one", "hi");
      for await (const m of sub) expect(m.string()).toBe("hi");
      expect(nc.info?.jetstream).toBe(true);
      const info = await (await jetstreamManager(nc)).getAccountInfo();
      expect(info.limits).toBeDefined();
    } finally {
      await nc.close();
    }
  });
});

describe("topology lifecycle", () => {
  it("stop() ends the servers and removes the store", async () => {
    const t = await startSingle({ jetstream: false, maxPayload: 4096 });
    const [server] = t.servers;
    expect(server).toBeDefined();
    const nc = await connect(t.url);
    expect(nc.info?.max_payload).toBe(4096);
    expect(nc.info?.jetstream ?? false).toBe(false);
    await nc.close();
    await t.stop();
    await t.stop();
    expect(server?.running).toBe(false);
    expect(existsSync(server?.workDir ?? "")).toBe(false);
    expect(t.logs()).toContain("Server is ready");
  });
});
