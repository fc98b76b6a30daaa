import { describe, expect, it } from "vitest";
import type { ProviderId } from "../src/index.js";
import { EDGE_WILDCARD, providerSubjects, requestSubject, Service } from "../src/index.js";

describe("providerSubjects", () => {
  it("pins the provider token last in every pattern", () => {
    const s = providerSubjects("alpha-2" as ProviderId);
    expect(s.requests).toEqual(["ilk.keys.v1.*.alpha-2", "ilk.delivery.v1.*.alpha-2", "ilk.media.v1.*.alpha-2", "ilk.receipt.v1.status.alpha-2"]);
    expect(s.events).toBe("ilk.evt.*.v1.*.alpha-2");
    expect(s.edge).toBe("ilk.ratchet.v1.*.alpha-2");
    expect(s.inbox).toBe("_INBOX.ilk.alpha-2.>");
    expect(EDGE_WILDCARD).toBe("ilk.ratchet.>");
    // The hub-internal receipt op is not among them.
    expect(s.requests).not.toContain(requestSubject(Service.Receipt, "acked", "alpha-2" as ProviderId));
  });

  it("refuses an invalid provider id", () => {
    expect(() => providerSubjects("A.>" as ProviderId)).toThrow(TypeError);
  });
});
