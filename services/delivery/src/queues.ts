import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { JetStreamApiError, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { nanos } from "@nats-io/transport-node";
import { QUEUE_WILDCARD, opaqueToken, queueSubject } from "@interlink/subjects";

export const DELIVERY_STREAM = "ILK_DELIVERY";

export interface QueueOptions {
  readonly replicas: number;
  /** Undelivered messages are dropped after this long (Signal keeps 30 days). */
  readonly retentionMs: number;
  /** Window in which a repeated Nats-Msg-Id is dropped by JetStream. */
  readonly dedupeWindowMs: number;
}

export interface Queues {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The subject of one device's queue: a keyed token, so no user id appears on the wire. */
  subjectFor(provider: string, user: string, device: number): string;
}

/**
 * Every device queue is a subject of one stream; no consumer per device. Reads use direct get
 * (last_by_subj / next_by_subj), acks delete exactly the acked sequences.
 */
export const openQueues = async (nc: NatsConnection, secret: Uint8Array, o: QueueOptions): Promise<Queues> => {
  const jsm = await jetstreamManager(nc);
  const config = {
    name: DELIVERY_STREAM,
    subjects: [QUEUE_WILDCARD],
    max_age: nanos(o.retentionMs),
    duplicate_window: nanos(o.dedupeWindowMs),
    allow_direct: true,
    num_replicas: o.replicas,
  };
  try {
    await jsm.streams.info(DELIVERY_STREAM);
    await jsm.streams.update(DELIVERY_STREAM, { max_age: config.max_age, duplicate_window: config.duplicate_window, allow_direct: true });
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) throw err;
    await jsm.streams.add(config);
  }
  return {
    js: jetstream(nc),
    jsm,
    subjectFor: (p, u, d) => queueSubject(opaqueToken(secret, "device", p, u, d)),
  };
};
