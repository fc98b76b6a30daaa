import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findNatsServer } from "@interlink/natsd";
import type { ProviderId } from "@interlink/subjects";
import type { ProviderRecord } from "../src/index.js";
import { DEFAULT_PROTOCOL, ProviderErrorCode, ProviderGate, accountName, createUserKey, providerPermissions, renderAccounts, renderLeafRemote } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "providers-accounts-"));
const key = () => createUserKey(join(dir, `${Math.random()}.nk`)).publicKey;
const rec = (id: string, o: Partial<ProviderRecord> = {}): ProviderRecord => ({
  v: 1,
  id: id as ProviderId,
  contact: "",
  protocols: [DEFAULT_PROTOCOL],
  quotas: {},
  nkey: key(),
  leafUser: `leaf-${id}`,
  status: "active",
  createdAt: 1,
  ...o,
});

const valid = async (text: string): Promise<void> => {
  const binary = await findNatsServer({ install: false });
  const file = join(dir, `t-${Math.random()}.conf`);
  writeFileSync(file, `port: 4999\n${text}`);
  execFileSync(binary, ["-c", file, "-t"], { stdio: "pipe" });
};

describe("renderAccounts", () => {
  it("gives the hub an account of its own and each provider one that imports only its own subjects", async () => {
    const text = renderAccounts({
      hubNkey: key(),
      providers: [{ record: rec("beta") }, { record: rec("alpha-2"), leafPassword: "0123456789abcdef0123456789abcdef" }],
    });
    await valid(text);
    expect(accountName("alpha-2" as ProviderId)).toBe("PROV_ALPHA_2");
    expect(text).toContain('{ service: "ilk.keys.v1.*.alpha-2", accounts: [PROV_ALPHA_2] }');
    expect(text).toContain('{ stream: "ilk.evt.*.v1.*.beta", accounts: [PROV_BETA] }');
    expect(text).toContain('{ service: { account: HUB, subject: "ilk.receipt.v1.status.alpha-2" } }');
    expect(text).not.toContain("ilk.receipt.v1.acked");
    // The edge subjects are never exported or imported (only the provider's own users may use them).
    expect(text).not.toMatch(/(service|stream|subject): "ilk\.ratchet/);
    // Only the provider with a leaf password gets a leafnode user.
    expect(text).toContain('{ user: "leaf-alpha-2", password: "0123456789abcdef0123456789abcdef" }');
    expect(text).not.toContain('user: "leaf-beta"');
    // Sorted by id: stable output, so an unchanged registry never triggers a reload.
    expect(text.indexOf("PROV_ALPHA_2 {")).toBeLessThan(text.indexOf("PROV_BETA {"));
  });

  it("keeps a removed provider as an empty account without users, imports or exports", async () => {
    const text = renderAccounts({ hubNkey: key(), providers: [{ record: rec("gone", { status: "removed", removedAt: 2 }) }, { record: rec("kept") }] });
    await valid(text);
    expect(text).toMatch(/PROV_GONE \{\n\s*# removed\n\s*\}/);
    expect(text).not.toContain(".gone");
  });

  it("refuses a malformed hub key and duplicate accounts", () => {
    expect(() => renderAccounts({ hubNkey: "nope", providers: [] })).toThrow(RangeError);
    const hubNkey = key();
    expect(() => renderAccounts({ hubNkey, providers: [{ record: rec("a-b") }, { record: rec("a_b".replace("_", "-")) }] })).toThrow(/duplicate/);
  });

  it("lets a provider's client publish only its own requests and subscribe only to its own events", () => {
    const p = providerPermissions("alpha" as ProviderId);
    expect(p.publish).toContain("ilk.delivery.v1.*.alpha");
    expect(p.publish.some((s) => s.includes("beta") || s.startsWith("ilk.receipt.v1.acked"))).toBe(false);
    expect(p.subscribe).toContain("ilk.evt.*.v1.*.alpha");
  });

  it("renders a provider's leafnode remote that denies the edge subjects both ways", async () => {
    const text = renderLeafRemote("nats-leaf://127.0.0.1:7422", "leaf-alpha", "00112233445566778899aabbccddeeff");
    expect(text).toContain('url: "nats-leaf://leaf-alpha:00112233445566778899aabbccddeeff@127.0.0.1:7422"');
    expect(text).toContain('deny_exports: ["ilk.ratchet.>"], deny_imports: ["ilk.ratchet.>"]');
    await valid(text);
  });
});

describe("ProviderGate (the protocol check delivery calls)", () => {
  const gate = ProviderGate.fromRecords([
    rec("alpha"),
    rec("beta", { protocols: [DEFAULT_PROTOCOL, "mls-x-v1"] }),
    rec("gone", { status: "removed" }),
  ]);

  it("accepts a declared protocol, with the default standing for an envelope that names none", () => {
    expect(gate.checkSend("alpha" as ProviderId, "signal-pqxdh-v1", "beta" as ProviderId)).toBeUndefined();
    expect(gate.checkSend("alpha" as ProviderId, undefined, "beta" as ProviderId)).toBeUndefined();
  });

  it("refuses a protocol the sender did not declare, with a typed error", () => {
    expect(gate.checkSend("alpha" as ProviderId, "mls-x-v1", "beta" as ProviderId)).toMatchObject({
      code: ProviderErrorCode.ProtocolNotDeclared,
      retryable: false,
      details: { protocol: "mls-x-v1" },
    });
  });

  it("refuses a protocol the recipient's provider did not declare", () => {
    expect(gate.checkSend("beta" as ProviderId, "mls-x-v1", "alpha" as ProviderId)).toMatchObject({ code: ProviderErrorCode.ProtocolNotSupportedByRecipient });
  });

  it("refuses senders and recipients that are not enrolled or were removed", () => {
    expect(gate.checkSender("gone" as ProviderId, undefined)).toMatchObject({ code: "forbidden" });
    expect(gate.checkSender("never" as ProviderId, undefined)).toMatchObject({ code: "forbidden" });
    expect(gate.checkRecipient("gone" as ProviderId, undefined)).toMatchObject({ code: ProviderErrorCode.UnknownRecipient });
  });

  it("enforces nothing while nobody is enrolled (development mode)", () => {
    const open = ProviderGate.fromRecords([]);
    expect(open.open).toBe(true);
    expect(open.checkSend("x1" as ProviderId, "anything", "y1" as ProviderId)).toBeUndefined();
  });
});

process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

describe("provider ids given on a command line", () => {
  it("refuses the id reserved for the hub's own calls, and malformed ones", async () => {
    const { providerId } = await import("../src/index.js");
    const E = await import("fp-ts/lib/Either.js");
    expect(E.isLeft(providerId("hub"))).toBe(true);
    expect(E.isLeft(providerId("Not.Valid"))).toBe(true);
    expect(E.isRight(providerId("gamma"))).toBe(true);
  });
});
