export type { Clock } from "./clock.js";
export { systemClock } from "./clock.js";
export type { ServiceError } from "./errors.js";
export {
  ErrorCode,
  fromRecord,
  fromWireError,
  internal,
  isServiceError,
  noResponders,
  overloaded,
  serviceError,
  timeout,
  toRecord,
} from "./errors.js";
export type { Logger, LogFields } from "./logger.js";
export { LogLevel, createLogger, parseLogLevel, silentLogger } from "./logger.js";
export type { ActorCell, MailboxOptions } from "./mailbox.js";
export { ActorSystem } from "./mailbox.js";
export type { CallOptions, RequesterOptions } from "./requester.js";
export { Requester } from "./requester.js";
export type { AnyEndpoint, Endpoint, EndpointCounters, HostStats, RequestContext, ServiceHostOptions } from "./service-host.js";
export type { MicroIdentity } from "./micro.js";
export { serveMicroDiscovery } from "./micro.js";
export { ServiceHost, endpoint } from "./service-host.js";
export type { Step, Versioned } from "./kv-state.js";
export { CasStore } from "./kv-state.js";
export { onShutdown } from "./shutdown.js";
export type { RunningService, ServiceEnv } from "./service-env.js";
export type { PubAck, StoredMsg } from "./fastjs.js";
export { FastJs, JsErr, StoreError } from "./fastjs.js";
export type { KvEntry } from "./fast-kv.js";
export { FastKv } from "./fast-kv.js";
