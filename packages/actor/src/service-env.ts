import type { NatsConnection } from "@nats-io/transport-node";
import type { Clock } from "./clock.js";
import type { Logger } from "./logger.js";
import type { HostStats } from "./service-host.js";

/** What every service is built from; the composition root (main.ts / the CLI) fills it in. */
export interface ServiceEnv {
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly clock: Clock;
  /** Keys the opaque tokens that stand for user ids in KV keys and stream subjects. */
  readonly secret: Uint8Array;
  /** JetStream replicas for the service's streams and buckets (1 single node, 3 in a cluster). */
  readonly replicas: number;
}

export interface RunningService {
  readonly name: string;
  stats(): HostStats;
  /** Stops taking requests, finishes those in flight; does not close the connection. */
  stop(): Promise<void>;
}
