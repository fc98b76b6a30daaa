export { Service, SubjectErrorCode } from "./types.js";
export type { DeviceId, ParsedSubject, ProviderId, SubjectError, UserId } from "./types.js";
export { isSubjectError } from "./errors.js";
export { parseDeviceId, parseEventName, parseOp, parseProviderId, parseUserId } from "./tokens.js";
export {
  MEDIA_STAGING_WILDCARD,
  QUEUE_WILDCARD,
  eventSubject,
  eventWildcard,
  inboxPrefix,
  mediaStagingSubject,
  parseSubject,
  providerOfSubject,
  queueSubject,
  requestSubject,
  requestWildcard,
} from "./subjects.js";
export { opaqueToken } from "./opaque.js";
