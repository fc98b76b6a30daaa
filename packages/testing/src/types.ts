import type { NatsServerHandle } from "@interlink/natsd";

/** Anything whose server logs can be shown when a test fails. */
export interface HasLogs {
  logs(): string;
}

export interface TestTopology extends HasLogs {
  readonly servers: readonly NatsServerHandle[];
  /** URL of the first server. */
  readonly url: string;
  readonly urls: readonly string[];
  /** Stops every server and removes the temporary directories. Idempotent. */
  stop(): Promise<void>;
}

export interface HubTopology extends HasLogs {
  readonly hub: NatsServerHandle;
  /** A provider's own server, by leaf name; its clients connect here. */
  readonly leaves: Readonly<Record<string, NatsServerHandle>>;
  /** The hub first, then the leaves in the order given. */
  readonly servers: readonly NatsServerHandle[];
  stop(): Promise<void>;
}

export interface SingleOptions {
  /** Defaults to true. */
  readonly jetstream?: boolean;
  readonly maxPayload?: number;
  /** Raw config text appended to the generated file. */
  readonly extra?: string;
  /** Raw `accounts` block (or its body). */
  readonly accounts?: string;
  readonly debug?: boolean;
}

export interface ClusterOptions {
  /** Defaults to 3. */
  readonly size?: number;
  /** Defaults to true. */
  readonly jetstream?: boolean;
  readonly extra?: string;
  readonly accounts?: string;
}

export interface LeafSpec {
  /** Server name, and JetStream domain when the leaf runs JetStream: `[A-Za-z0-9_-]+`. */
  readonly name: string;
  /** Subjects the leaf never sends to the hub, such as `ilk.ratchet.>`. */
  readonly denyExports?: readonly string[];
  /** Subjects the leaf never accepts from the hub. */
  readonly denyImports?: readonly string[];
  /** Defaults to false. */
  readonly jetstream?: boolean;
}

export interface HubOptions {
  readonly leaves: readonly LeafSpec[];
  /** Defaults to true; the hub's JetStream domain is "hub". */
  readonly hubJetstream?: boolean;
  readonly hubExtra?: string;
}
