import { describe, expect, it } from "vitest";
import { connect, startSingle, useTopology, waitFor } from "@interlink/testing";
import type { ProviderId } from "@interlink/subjects";
import * as E from "fp-ts/lib/Either.js";
import type { ProviderRecord } from "../src/index.js";
import { DEFAULT_PROTOCOL, ProviderErrorCode, ProviderGate, ProviderRegistry } from "../src/index.js";

const rec = (id: string, protocols = [DEFAULT_PROTOCOL]): ProviderRecord => ({
  v: 1,
  id: id as ProviderId,
  contact: "ops@example.org",
  protocols,
  quotas: { messagesPerSecond: 50 },
  nkey: `U${"A".repeat(55)}`,
  leafUser: `leaf-${id}`,
  status: "active",
  createdAt: Date.now(),
});

describe("ProviderRegistry and ProviderGate on a real server", () => {
  const topo = useTopology(() => startSingle());

  it("writes with compare-and-swap and the gate follows changes without a restart", async () => {
    const nc = await connect(topo().url);
    try {
      const registry = await ProviderRegistry.open(nc);
      const gate = await ProviderGate.start(nc);
      expect(gate.open).toBe(true);

      const first = await registry.put(rec("alpha"), 0);
      expect(E.isRight(first)).toBe(true);
      // A second enrollment of the same id from a stale view loses.
      expect(E.isLeft(await registry.put(rec("alpha"), 0))).toBe(true);
      await registry.put(rec("beta"), 0);
      await waitFor("gate sees two providers", async () => (gate.get("beta" as ProviderId) !== undefined ? true : undefined), { timeoutMs: 5_000 });
      expect(gate.checkSend("alpha" as ProviderId, undefined, "beta" as ProviderId)).toBeUndefined();
      expect(gate.checkSender("alpha" as ProviderId, "other-v1")?.code).toBe(ProviderErrorCode.ProtocolNotDeclared);

      // Declaring a second protocol is a registry change only.
      const cur = await registry.get("alpha" as ProviderId);
      await registry.put({ ...cur!.value, protocols: [DEFAULT_PROTOCOL, "other-v1"] }, cur!.revision);
      await waitFor("gate sees the new protocol", async () => (gate.checkSender("alpha" as ProviderId, "other-v1") === undefined ? true : undefined), { timeoutMs: 5_000 });

      const b = await registry.get("beta" as ProviderId);
      await registry.put({ ...b!.value, status: "removed", removedAt: Date.now() }, b!.revision);
      await waitFor("gate sees the removal", async () => (gate.checkRecipient("beta" as ProviderId, undefined) !== undefined ? true : undefined), { timeoutMs: 5_000 });
      expect((await registry.list()).map((r) => [r.id, r.status])).toEqual([["alpha", "active"], ["beta", "removed"]]);

      // A second gate starting on a filled bucket loads it before answering.
      const late = await ProviderGate.start(nc);
      expect(late.open).toBe(false);
      expect(late.get("alpha" as ProviderId)?.protocols).toEqual([DEFAULT_PROTOCOL, "other-v1"]);
      gate.stop();
      late.stop();
    } finally {
      await nc.close();
    }
  });
});
