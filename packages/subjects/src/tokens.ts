import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import { subjectError } from "./errors.js";
import { SubjectErrorCode } from "./types.js";
import type { DeviceId, ProviderId, SubjectError, UserId } from "./types.js";

export const PROVIDER_RE = /^[a-z0-9-]{2,32}$/;
export const NAME_RE = /^[a-z][a-z0-9-]{0,31}$/;
export const USER_RE = /^[A-Za-z0-9_-]{1,64}$/;
export const DEVICE_MIN = 1;
export const DEVICE_MAX = 127;

interface TokenRule {
  readonly kind: string;
  readonly re: RegExp;
  readonly min: number;
  readonly max: number;
  readonly allowUpper: boolean;
  readonly firstLetter: boolean;
}

const PROVIDER_RULE: TokenRule = { kind: "provider id", re: PROVIDER_RE, min: 2, max: 32, allowUpper: false, firstLetter: false };
const NAME_RULE: TokenRule = { kind: "op", re: NAME_RE, min: 1, max: 32, allowUpper: false, firstLetter: true };
const EVENT_RULE: TokenRule = { ...NAME_RULE, kind: "event" };
const USER_RULE: TokenRule = { kind: "user id", re: USER_RE, min: 1, max: 64, allowUpper: true, firstLetter: false };

/**
 * Only runs once the regex has already failed, so it can afford to look closer. The reasons
 * name a character class or a constant character, never the value: a user id must not leak
 * into a log line through an error message.
 */
const whyInvalid = (rule: TokenRule, s: string): string => {
  if (s.length === 0) return `${rule.kind}: empty`;
  if (s.length > rule.max) return `${rule.kind}: longer than ${rule.max}`;
  if (s.length < rule.min) return `${rule.kind}: shorter than ${rule.min}`;
  if (s.includes(".")) return `${rule.kind}: contains '.'`;
  if (s.includes("*")) return `${rule.kind}: contains '*'`;
  if (s.includes(">")) return `${rule.kind}: contains '>'`;
  if (/\s/.test(s)) return `${rule.kind}: contains whitespace`;
  if (/[^\x20-\x7e]/.test(s)) return `${rule.kind}: contains a non-ASCII or control character`;
  if (!rule.allowUpper && /[A-Z]/.test(s)) return `${rule.kind}: contains an uppercase letter`;
  if (rule.firstLetter && !/^[a-z]/.test(s)) return `${rule.kind}: must start with a lowercase letter`;
  return `${rule.kind}: contains a disallowed character`;
};

const parseToken = (rule: TokenRule, u: unknown): Either<SubjectError, string> => {
  if (typeof u !== "string") return E.left(subjectError(SubjectErrorCode.InvalidToken, `${rule.kind}: not a string`));
  return rule.re.test(u) ? E.right(u) : E.left(subjectError(SubjectErrorCode.InvalidToken, whyInvalid(rule, u)));
};

/**
 * The provider token of the hub's own services calling each other (`ilk.receipt.v1.acked.hub`,
 * `ilk.delivery.v1.notify.hub`). It is a valid subject token, so those subjects parse like any
 * other, but no provider may ever be enrolled under it: handlers of hub-internal operations
 * accept a request only when its provider token is this one, and a provider's permissions pin
 * its own id as the last token, so it cannot publish there.
 */
export const HUB_PROVIDER = "hub" as ProviderId;

/** Provider ids that enrollment must refuse. */
export const RESERVED_PROVIDER_IDS: ReadonlySet<string> = new Set<string>([HUB_PROVIDER]);

export const isReservedProviderId = (p: string): boolean => RESERVED_PROVIDER_IDS.has(p);

export const parseProviderId = (s: unknown): Either<SubjectError, ProviderId> =>
  parseToken(PROVIDER_RULE, s) as Either<SubjectError, ProviderId>;

export const parseUserId = (s: unknown): Either<SubjectError, UserId> =>
  parseToken(USER_RULE, s) as Either<SubjectError, UserId>;

export const parseOp = (s: unknown): Either<SubjectError, string> => parseToken(NAME_RULE, s);

export const parseEventName = (s: unknown): Either<SubjectError, string> => parseToken(EVENT_RULE, s);

export const parseDeviceId = (n: unknown): Either<SubjectError, DeviceId> => {
  if (typeof n !== "number") return E.left(subjectError(SubjectErrorCode.InvalidToken, "device id: not a number"));
  if (!Number.isInteger(n)) return E.left(subjectError(SubjectErrorCode.InvalidToken, "device id: not an integer"));
  if (n < DEVICE_MIN || n > DEVICE_MAX) {
    return E.left(subjectError(SubjectErrorCode.InvalidToken, `device id: outside ${DEVICE_MIN}..${DEVICE_MAX}`));
  }
  return E.right(n as DeviceId);
};
