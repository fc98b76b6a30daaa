import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { connect, startHubWithLeaves, useTopology } from "@interlink/testing";
import type { RunningService, ServiceEnv } from "@interlink/actor";
import { silentLogger, systemClock } from "@interlink/actor";
import type { ProviderId } from "@interlink/subjects";
import type { DemoResult } from "../src/index.js";
import { runDemo, startService } from "../src/index.js";

/**
 * The path of the foundation issue on the intended topology: a hub running the four hub services,
 * and one leafnode per provider running that provider's session-ratchet and app. Leaves deny
 * ilk.ratchet.> both ways, so plaintext between a ratchet and its app never crosses to the hub.
 */
describe("walking skeleton: one text and one image end to end, nothing secret on the hub", () => {
  const topo = useTopology(() =>
    startHubWithLeaves({
      leaves: [
        { name: "alpha", jetstream: true, denyExports: ["ilk.ratchet.>"], denyImports: ["ilk.ratchet.>"] },
        { name: "beta", jetstream: true, denyExports: ["ilk.ratchet.>"], denyImports: ["ilk.ratchet.>"] },
      ],
    }),
  );
  const conns: NatsConnection[] = [];
  const services: RunningService[] = [];
  const tapped: Msg[] = [];
  const secret = randomBytes(32);
  const keys = { secret, atRestKey: randomBytes(32) };
  const text = `tap-check ${randomBytes(8).toString("hex")} — must stay end-to-end`;
  let result: DemoResult;

  const conn = async (url: string) => {
    const nc = await connect(url);
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    const t = topo();
    const tap = await conn(t.hub.url);
    tap.subscribe(">", { callback: (_e, m) => void tapped.push(m) });
    await tap.flush();

    const hub = await conn(t.hub.url);
    const env: ServiceEnv = { nc: hub, log: silentLogger, clock: systemClock, secret, replicas: 1 };
    for (const name of ["key-directory", "delivery", "media-store", "receipt"] as const) {
      services.push(await startService(name, env, keys));
    }
    for (const p of ["alpha", "beta"] as const) {
      // Each provider's edge keeps its sealed state in its own leaf's JetStream.
      const nc = await conn(t.leaves[p]!.url);
      services.push(await startService("session-ratchet", { ...env, nc }, keys, { provider: p as ProviderId }));
    }
    const alpha = await conn(t.leaves["alpha"]!.url);
    const beta = await conn(t.leaves["beta"]!.url);
    result = await runDemo({ alpha, beta, text, timeoutMs: 15_000, kinds: ["text", "image"] });
  });

  afterAll(async () => {
    for (const s of services.reverse()) await s.stop();
    for (const c of conns) await c.close();
  });

  it("delivers and decrypts the text and the image, and routes delivered receipts back", () => {
    expect(result.messages).toHaveLength(2);
    for (const m of result.messages) {
      expect(m).toMatchObject({ delivered: true, decrypted: true, receipt: "delivered" });
    }
    expect(result.messages.map((m) => m.kind)).toEqual(["text", "image"]);
    expect(result.ok).toBe(true);
  });

  it("never shows the hub the plaintext, the image bytes, the attachment key or a raw user id", () => {
    expect(tapped.length).toBeGreaterThan(50); // the tap really saw the traffic
    const needles: Array<[string, Buffer]> = [["text", Buffer.from(text)]];
    // Any 24-byte window of the image, at a few offsets, would be a leak.
    for (const off of [0, 100, 1000, result.secrets.image.length - 24]) {
      needles.push([`image@${off}`, Buffer.from(result.secrets.image.subarray(off, off + 24))]);
    }
    expect(result.secrets.attachmentKeys).toHaveLength(1);
    for (const k of result.secrets.attachmentKeys) {
      needles.push(["aes key", Buffer.from(k.subarray(0, 16))], ["mac key", Buffer.from(k.subarray(32, 48))]);
    }
    const leaks: string[] = [];
    for (const m of tapped) {
      const data = Buffer.from(m.data);
      const hdrs = Buffer.from(m.headers?.toString() ?? "");
      for (const [what, needle] of needles) {
        if (data.includes(needle) || hdrs.includes(needle)) leaks.push(`${what} on ${m.subject}`);
      }
      for (const u of result.secrets.users) if (m.subject.includes(u)) leaks.push(`user id in subject ${m.subject}`);
      if (m.subject.startsWith("ilk.ratchet.")) leaks.push(`edge subject ${m.subject} reached the hub`);
    }
    expect(leaks).toEqual([]);
  });

  it("saw ciphertext cross the hub: sends to delivery and chunks to media-store", () => {
    const subjects = new Set(tapped.map((m) => m.subject));
    expect([...subjects].some((s) => s === "ilk.delivery.v1.send.alpha")).toBe(true);
    expect([...subjects].some((s) => s === "ilk.media.v1.chunk.alpha")).toBe(true);
    expect([...subjects].some((s) => s === "ilk.keys.v1.claim.alpha")).toBe(true);
  });
});
