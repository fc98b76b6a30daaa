import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import type { DeviceAddress, QueuedMessage } from "@interlink/client";
import type { DeviceSecrets } from "../records.js";

/** What a worker needs to run its own shard of sessions (everything structured-cloneable). */
export interface WorkerConfig {
  readonly servers: string;
  readonly provider: string;
  readonly secret: Uint8Array;
  readonly atRestKey: Uint8Array;
  readonly replicas: number;
  readonly index: number;
}

export type ToWorker =
  | { readonly t: "enc"; readonly id: number; readonly dev: DeviceSecrets; readonly remote: DeviceAddress; readonly plaintext: Uint8Array; readonly fresh: boolean }
  | { readonly t: "dec"; readonly id: number; readonly dev: DeviceSecrets; readonly msg: QueuedMessage }
  /** The answer of the main thread's delivery to the app, which lets a decrypt commit or not. */
  | { readonly t: "delivered"; readonly id: number; readonly result: Either<ServiceError, void> }
  | { readonly t: "forget"; readonly id: number; readonly dev: DeviceSecrets; readonly remote: DeviceAddress }
  | { readonly t: "close" };

export type FromWorker =
  | { readonly t: "ready" }
  | { readonly t: "res"; readonly id: number; readonly result: Either<ServiceError, unknown> }
  | { readonly t: "plain"; readonly id: number; readonly plaintext: Uint8Array }
  | { readonly t: "identity"; readonly dev: DeviceSecrets; readonly remote: DeviceAddress; readonly key: Uint8Array }
  | { readonly t: "failed"; readonly message: string };
