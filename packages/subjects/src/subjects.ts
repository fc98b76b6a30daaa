import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import { subjectError } from "./errors.js";
import { NAME_RE, PROVIDER_RE, parseProviderId } from "./tokens.js";
import { Service, SubjectErrorCode } from "./types.js";
import type { ParsedSubject, ProviderId, SubjectError } from "./types.js";

const ROOT = "ilk";
const VERSION = "v1";
const EVENT_FAMILY = "evt";
const QUEUE_FAMILY = "q";
/** Opaque tokens come from opaqueToken (22 chars) but callers may bring their own keyed hashes. */
const OPAQUE_RE = /^[A-Za-z0-9_-]{1,64}$/;

const SERVICES: ReadonlySet<string> = new Set(Object.values(Service));
const isService = (s: string | undefined): s is Service => s !== undefined && SERVICES.has(s);

/** Builders take already-validated parts; a bad part here is a bug in the caller, so it throws. */
const assertService = (service: Service): void => {
  if (!SERVICES.has(service)) throw new TypeError("subjects: unknown service");
};
const assertName = (kind: string, name: string): void => {
  if (!NAME_RE.test(name)) throw new TypeError(`subjects: invalid ${kind} (validate with parseOp first)`);
};
const assertProvider = (provider: ProviderId): void => {
  if (!PROVIDER_RE.test(provider)) throw new TypeError("subjects: invalid provider id (validate with parseProviderId first)");
};

export const requestSubject = (service: Service, op: string, provider: ProviderId): string => {
  assertService(service);
  assertName("op", op);
  assertProvider(provider);
  return `${ROOT}.${service}.${VERSION}.${op}.${provider}`;
};

export const requestWildcard = (service: Service, op: string): string => {
  assertService(service);
  assertName("op", op);
  return `${ROOT}.${service}.${VERSION}.${op}.*`;
};

export const eventSubject = (service: Service, event: string, provider: ProviderId): string => {
  assertService(service);
  assertName("event", event);
  assertProvider(provider);
  return `${ROOT}.${EVENT_FAMILY}.${service}.${VERSION}.${event}.${provider}`;
};

export const eventWildcard = (service: Service, event: string): string => {
  assertService(service);
  assertName("event", event);
  return `${ROOT}.${EVENT_FAMILY}.${service}.${VERSION}.${event}.*`;
};

const invalidSubject = (why: string): Either<SubjectError, never> =>
  E.left(subjectError(SubjectErrorCode.InvalidSubject, `subject: ${why}`));

export const parseSubject = (subject: string): Either<SubjectError, ParsedSubject> => {
  if (typeof subject !== "string") return invalidSubject("not a string");
  const t = subject.split(".");
  if (t[0] !== ROOT) return invalidSubject(`does not start with '${ROOT}.'`);
  if (t.length === 5) {
    const [, service, version, op, provider] = t;
    if (!isService(service)) return invalidSubject("unknown service");
    if (version !== VERSION) return invalidSubject("unsupported version token");
    if (op === undefined || !NAME_RE.test(op)) return invalidSubject("invalid op token");
    const p = parseProviderId(provider);
    if (E.isLeft(p)) return invalidSubject("invalid provider token");
    return E.right({ family: "request", service, op, provider: p.right });
  }
  if (t.length === 6 && t[1] === EVENT_FAMILY) {
    const [, , service, version, event, provider] = t;
    if (!isService(service)) return invalidSubject("unknown service");
    if (version !== VERSION) return invalidSubject("unsupported version token");
    if (event === undefined || !NAME_RE.test(event)) return invalidSubject("invalid event token");
    const p = parseProviderId(provider);
    if (E.isLeft(p)) return invalidSubject("invalid provider token");
    return E.right({ family: "event", service, event, provider: p.right });
  }
  return invalidSubject("wrong number of tokens for its family");
};

/**
 * Called for every inbound request to learn who sent it, so it skips the full parse: the
 * provider is always the last token, and NATS permissions pin that token per provider.
 */
export const providerOfSubject = (subject: string): Either<SubjectError, ProviderId> => {
  if (typeof subject !== "string" || !subject.startsWith(`${ROOT}.`)) return invalidSubject(`does not start with '${ROOT}.'`);
  // Only requests and events end in a provider; internal families (queues, staging) end in opaque ids.
  const family = subject.slice(ROOT.length + 1, subject.indexOf(".", ROOT.length + 1));
  if (family !== EVENT_FAMILY && !SERVICES.has(family)) return invalidSubject("not a request or event subject");
  const i = subject.lastIndexOf(".");
  const p = parseProviderId(subject.slice(i + 1));
  return E.isLeft(p) ? invalidSubject("invalid provider token") : p;
};

export const queueSubject = (token: string): string => {
  if (!OPAQUE_RE.test(token)) throw new TypeError("subjects: queue token must be an opaque token (see opaqueToken)");
  return `${ROOT}.${QUEUE_FAMILY}.${token}`;
};

export const QUEUE_WILDCARD = `${ROOT}.${QUEUE_FAMILY}.>`;

const INBOX_ROOT = `_INBOX.${ROOT}`;

export const inboxPrefix = (provider?: ProviderId): string => {
  if (provider === undefined) return INBOX_ROOT;
  assertProvider(provider);
  return `${INBOX_ROOT}.${provider}`;
};

/**
 * What one provider may reach on the hub, as subject patterns for NATS account exports/imports
 * and user permissions (the provider token is pinned last, so no pattern matches another
 * provider). `ilk.receipt.v1.acked.*` and every other subject stay inside the hub's account.
 */
export interface ProviderSubjects {
  /** Request subjects the hub serves to this provider: `ilk.keys.v1.*.<p>`, … */
  readonly requests: readonly string[];
  /** Events the hub sends to this provider: `ilk.evt.*.v1.*.<p>`. */
  readonly events: string;
  /** The provider's own edge service (session-ratchet ↔ app), never exported to the hub. */
  readonly edge: string;
  /** The provider's shared reply inboxes (see `inboxPrefix`). */
  readonly inbox: string;
}

/** Services a provider calls on the hub; `receipt` only for its `status` query. */
const PROVIDER_FACING: ReadonlyArray<readonly [Service, string]> = [
  [Service.Keys, "*"],
  [Service.Delivery, "*"],
  [Service.Media, "*"],
  [Service.Receipt, "status"],
];

export const providerSubjects = (provider: ProviderId): ProviderSubjects => {
  assertProvider(provider);
  return {
    requests: PROVIDER_FACING.map(([svc, op]) => `${ROOT}.${svc}.${VERSION}.${op}.${provider}`),
    events: `${ROOT}.${EVENT_FAMILY}.*.${VERSION}.*.${provider}`,
    edge: `${ROOT}.${Service.Ratchet}.${VERSION}.*.${provider}`,
    inbox: `${INBOX_ROOT}.${provider}.>`,
  };
};

/** Subjects of a provider's edge service on every provider: a leafnode link denies them both ways. */
export const EDGE_WILDCARD = `${ROOT}.${Service.Ratchet}.>`;
