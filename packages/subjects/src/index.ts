export { Service, SubjectErrorCode } from "./types.js";
export type { DeviceId, ParsedSubject, ProviderId, SubjectError, UserId } from "./types.js";
export type { ProviderSubjects } from "./subjects.js";
export { isSubjectError } from "./errors.js";
export { parseDeviceId, parseEventName, parseOp, parseProviderId, parseUserId } from "./tokens.js";
export { HUB_PROVIDER, RESERVED_PROVIDER_IDS, isReservedProviderId } from "./tokens.js";
export {
  EDGE_WILDCARD,
  QUEUE_WILDCARD,
  eventSubject,
  eventWildcard,
  inboxPrefix,
  parseSubject,
  providerOfSubject,
  providerSubjects,
  queueSubject,
  requestSubject,
  requestWildcard,
} from "./subjects.js";
export { opaqueToken } from "./opaque.js";
