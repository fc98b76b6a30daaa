export { findNatsServer, natsServerVersion } from "./find.js";
export { freePort } from "./port.js";
export { quote, renderConfig } from "./config.js";
export { resolvePorts } from "./ports.js";
export { startNatsServer } from "./server.js";
export { NatsdError, NatsServerNotFound, isNatsdError } from "./errors.js";
export { NatsdErrorCode } from "./types.js";
export type {
  ByteSize,
  ClusterConfig,
  FindOptions,
  JetStreamConfig,
  LeafnodeListenConfig,
  LeafRemoteConfig,
  NatsdFailure,
  NatsServerConfig,
  NatsServerHandle,
  StartJetStreamConfig,
  StartOptions,
} from "./types.js";
