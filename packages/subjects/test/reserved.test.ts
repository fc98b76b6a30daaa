import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import { HUB_PROVIDER, RESERVED_PROVIDER_IDS, Service, isReservedProviderId, parseProviderId, providerOfSubject, requestSubject } from "../src/index.js";

describe("the reserved hub provider token", () => {
  it("is a valid subject token, so hub-internal subjects parse and name it as the caller", () => {
    expect(parseProviderId(HUB_PROVIDER)).toEqual(E.right("hub"));
    const subject = requestSubject(Service.Receipt, "acked", HUB_PROVIDER);
    expect(subject).toBe("ilk.receipt.v1.acked.hub");
    expect(providerOfSubject(subject)).toEqual(E.right("hub"));
  });

  it("is reserved, and ordinary ids are not", () => {
    expect(isReservedProviderId("hub")).toBe(true);
    expect([...RESERVED_PROVIDER_IDS]).toEqual(["hub"]);
    for (const p of ["alpha", "beta", "hubs", "the-hub"]) expect(isReservedProviderId(p)).toBe(false);
  });
});
