import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as E from "fp-ts/lib/Either.js";
import { createUser } from "@nats-io/nkeys";
import { connect, startSingle, useTopology } from "@interlink/testing";
import { InterlinkClient } from "@interlink/client";
import type { ProviderRecord } from "@interlink/providers";
import { ProviderErrorCode, ProviderRegistry } from "@interlink/providers";
import { ErrorCode } from "@interlink/actor";
import type { Hub } from "./helpers.js";
import { alpha, beta, envelope, gamma, left, register, right, startHub, user } from "./helpers.js";


const enrol = (id: string, protocols: string[]): ProviderRecord => ({
  v: 1,
  id: id as never,
  contact: "ops@example.invalid",
  protocols,
  quotas: {},
  nkey: createUser().getPublicKey(),
  leafUser: `leaf-${id}`,
  status: "active",
  createdAt: Date.now(),
});

/** Protocol declaration: the hub refuses envelopes whose end-to-end protocol a side did not declare. */
describe("delivery refuses undeclared end-to-end protocols", () => {
  const topo = useTopology(() => startSingle());
  let hub: Hub;
  let c: InterlinkClient;

  beforeAll(async () => {
    // Enrol first, so delivery's gate starts closed (an empty registry means development mode).
    const nc = await connect(topo().url);
    const registry = await ProviderRegistry.open(nc);
    right(await registry.put(enrol("alpha", ["signal-pqxdh-v1"]), 0));
    right(await registry.put(enrol("beta", ["other-e2e-v1"]), 0));
    await nc.close();
    hub = await startHub(() => topo().url);
    c = new InterlinkClient(await hub.conn(), gamma);
  });
  afterAll(async () => {
    c.close();
    await hub.stop();
  });

  it("accepts a declared protocol between providers that both declared it", async () => {
    const to = user("ann");
    const regs = await register(hub.a, to, [1]);
    expect(E.isRight(await hub.a.delivery.send(envelope(user("bo"), { provider: alpha, user: to }, regs)))).toBe(true);
  });

  it("refuses a protocol the sender did not declare", async () => {
    const to = user("cy");
    const regs = await register(hub.a, to, [1]);
    const r = await hub.a.delivery.send({ ...envelope(user("di"), { provider: alpha, user: to }, regs), protocol: "mls-v1" });
    expect(left(r).code).toBe(ProviderErrorCode.ProtocolNotDeclared);
  });

  it("refuses a protocol the recipient's provider cannot read", async () => {
    const to = user("ed");
    const regs = await register(hub.b, to, [1]);
    const r = await hub.a.delivery.send(envelope(user("fi"), { provider: beta, user: to }, regs));
    expect(left(r).code).toBe(ProviderErrorCode.ProtocolNotSupportedByRecipient);
  });

  it("refuses a provider that is not enrolled", async () => {
    const to = user("gu");
    const regs = await register(hub.a, to, [1]);
    const r = await c.delivery.send(envelope(user("ha"), { provider: alpha, user: to }, regs));
    expect(left(r).code).toBe(ErrorCode.Forbidden);
  });
});
