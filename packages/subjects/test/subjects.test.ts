import * as E from "fp-ts/lib/Either.js";
import { describe, expect, it } from "vitest";
import type { ProviderId } from "../src/index.js";
import {
  QUEUE_WILDCARD,
  Service,
  eventSubject,
  eventWildcard,
  inboxPrefix,
  parseProviderId,
  parseSubject,
  providerOfSubject,
  queueSubject,
  requestSubject,
  requestWildcard,
} from "../src/index.js";

const provider = (s: string): ProviderId => {
  const p = parseProviderId(s);
  if (E.isLeft(p)) throw new Error("bad test provider");
  return p.right;
};
const acme = provider("acme");

describe("request subjects", () => {
  it.each(Object.values(Service))("round-trips service %s", (service) => {
    const subject = requestSubject(service, "claim-bundle", acme);
    expect(subject).toBe(`ilk.${service}.v1.claim-bundle.acme`);
    expect(parseSubject(subject)).toEqual(E.right({ family: "request", service, op: "claim-bundle", provider: acme }));
    expect(providerOfSubject(subject)).toEqual(E.right(acme));
  });

  it("builds the per-op wildcard", () => {
    expect(requestWildcard(Service.Delivery, "send")).toBe("ilk.delivery.v1.send.*");
  });

  it("throws on an unvalidated op (a caller bug)", () => {
    expect(() => requestSubject(Service.Keys, "a.b", acme)).toThrow(TypeError);
    expect(() => requestSubject(Service.Keys, "*", acme)).toThrow(TypeError);
    expect(() => requestWildcard(Service.Keys, ">")).toThrow(TypeError);
    expect(() => requestSubject(Service.Keys, "ok", "x.y" as ProviderId)).toThrow(TypeError);
    expect(() => requestSubject("nope" as Service, "ok", acme)).toThrow(TypeError);
  });
});

describe("event subjects", () => {
  it.each(Object.values(Service))("round-trips service %s", (service) => {
    const subject = eventSubject(service, "message", acme);
    expect(subject).toBe(`ilk.evt.${service}.v1.message.acme`);
    expect(subject.split(".")).toHaveLength(6);
    expect(parseSubject(subject)).toEqual(E.right({ family: "event", service, event: "message", provider: acme }));
    expect(providerOfSubject(subject)).toEqual(E.right(acme));
  });

  it("builds the per-event wildcard", () => {
    expect(eventWildcard(Service.Receipt, "receipt")).toBe("ilk.evt.receipt.v1.receipt.*");
  });

  it("throws on an unvalidated event name", () => {
    expect(() => eventSubject(Service.Delivery, "New", acme)).toThrow(TypeError);
  });
});

describe("parseSubject rejects", () => {
  it.each([
    "",
    "ilk",
    "nats.keys.v1.claim.acme",
    "ilk.keys.v2.claim.acme",
    "ilk.unknown.v1.claim.acme",
    "ilk.keys.v1.Claim.acme",
    "ilk.keys.v1.claim.Acme",
    "ilk.keys.v1.claim.*",
    "ilk.keys.v1.claim.>",
    "ilk.keys.v1.claim.acme.extra",
    "ilk.keys.v1.claim",
    "ilk.evt.keys.v1.message",
    "ilk.evt.keys.v1.message.acme.user42",
    "ilk.evt.nope.v1.message.acme",
    "ilk.evt.keys.v1.message.a",
    "ilk.q.abc",
    "ilk.keys.v1..acme",
    "ilk.keys.v1.claim.ac me",
  ])("%j", (subject) => {
    const r = parseSubject(subject);
    expect(E.isLeft(r) && r.left.code).toBe("invalid_subject");
  });

  it("does not echo the subject in the message", () => {
    const r = parseSubject("ilk.keys.v1.claim.secret-user-4711.x");
    expect(E.isLeft(r) && r.left.message).not.toContain("secret-user-4711");
  });
});

describe("providerOfSubject", () => {
  it.each([
    "ilk.keys.v1.claim.Acme",
    "ilk.keys.v1.claim.*",
    "other.keys.v1.claim.acme",
    "ilk.q.abcdef",
    "ilk.stage.media.abcdef",
    "ilk.nope.v1.claim.acme",
    "ilk.acme",
    "acme",
    "",
  ])(
    "rejects %j",
    (subject) => {
      expect(E.isLeft(providerOfSubject(subject))).toBe(true);
    },
  );
});

describe("queue and inbox subjects", () => {
  it("builds queue subjects from opaque tokens", () => {
    expect(queueSubject("AbC-_09xyzAbC-_09xyzAb")).toBe("ilk.q.AbC-_09xyzAbC-_09xyzAb");
    expect(QUEUE_WILDCARD).toBe("ilk.q.>");
    expect(() => queueSubject("a.b")).toThrow(TypeError);
    expect(() => queueSubject("")).toThrow(TypeError);
    expect(() => queueSubject(">")).toThrow(TypeError);
  });

  it("builds the shared and per-provider inbox prefixes", () => {
    expect(inboxPrefix()).toBe("_INBOX.ilk");
    expect(inboxPrefix(acme)).toBe("_INBOX.ilk.acme");
    expect(() => inboxPrefix("a.b" as ProviderId)).toThrow(TypeError);
  });
});
