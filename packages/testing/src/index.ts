export { startSingle } from "./single.js";
export { startCluster } from "./cluster.js";
export { startHubWithLeaves } from "./leaves.js";
export { connect, waitForDelivery, type ConnectTarget } from "./connect.js";
export { formatLogs, showLogsOnFailure, useTopology } from "./logs.js";
export { monitor, waitFor } from "./wait.js";
export type {
  ClusterOptions,
  HasLogs,
  HubOptions,
  HubTopology,
  LeafSpec,
  SingleOptions,
  TestTopology,
} from "./types.js";
export type { NatsServerHandle } from "@interlink/natsd";
