import type { JetStreamManager } from "@nats-io/jetstream";
import { JetStreamApiCodes, JetStreamApiError, StorageType, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { nanos } from "@nats-io/transport-node";
import { QUEUE_WILDCARD, opaqueToken, queueSubject } from "@interlink/subjects";

export const DELIVERY_STREAM = "ILK_DELIVERY";
/** KV bucket of acceptance records (and the sweeper's lease). */
export const ACCEPT_BUCKET = "ILK_DELIVERY_ACCEPTED";
export const ACCEPT_STREAM = `KV_${ACCEPT_BUCKET}`;

/**
 * Header on every queued message: bytes queued on its device up to and including it, counted
 * from the last time that queue was empty. The newest message of a queue therefore carries the
 * queue's size (minus what was acked out of order), so the per-device limit costs one direct get.
 */
export const QUEUED_HEADER = "Ilk-Queued";

/**
 * Header on hub receipt messages (value RECEIPTS_KIND), so a pull that does not take them and the
 * queue-limit recount can tell them apart without decoding. Signal messages carry none.
 */
export const KIND_HEADER = "Ilk-Kind";
export const RECEIPTS_KIND = "receipts";

export interface QueueOptions {
  readonly replicas: number;
  /** Messages not acked within this are reported to their sender and dropped (Signal keeps 30 days). */
  readonly retentionMs: number;
  /** The stream's own max_age is retention plus this: a backstop if no sweeper runs. */
  readonly backstopMs: number;
  /** JetStream's Nats-Msg-Id window: the inner guard against a crash between device publishes. */
  readonly dedupeWindowMs: number;
}

export interface Queues {
  readonly jsm: JetStreamManager;
  readonly accepted: KV;
  /** The subject of one device's queue: a keyed token, so no user id appears on the wire. */
  subjectFor(provider: string, user: string, device: number): string;
  /** KV subject of the acceptance record of a sender's message (`token` from acceptToken). */
  acceptSubject(token: string): string;
}

/** The subject of one device's queue: a keyed token, so no user id appears on the wire. */
export const deviceQueueSubject = (secret: Uint8Array, provider: string, user: string, device: number): string =>
  queueSubject(opaqueToken(secret, "device", provider, user, device));

/** Keyed token of a sender's message id: names its acceptance record and its copies. */
export const acceptToken = (secret: Uint8Array, provider: string, user: string, id: string): string =>
  opaqueToken(secret, "accept", provider, user, id);

/** Keyed token of a receipt batch for one sender user: names its copies. */
export const receiptsToken = (secret: Uint8Array, provider: string, user: string, batchId: string): string =>
  opaqueToken(secret, "receipts", provider, user, batchId);

/** Nats-Msg-Id of one device's copy of a receipt batch (`token` from receiptsToken). */
export const receiptsMsgId = (token: string, device: number): string => `r.${token}.${device}`;

/** Nats-Msg-Id of one device copy of a sender's message (`token` from acceptToken). */
export const copyMsgId = (token: string, fromDevice: number, toDevice: number): string => `${token}.${fromDevice}.${toDevice}`;

const isNotFound = (err: unknown): boolean =>
  (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) ||
  (err instanceof Error && /stream not found/i.test(err.message));

/**
 * Every device queue is a subject of one stream (file storage, limits retention): no consumer
 * per device. Reads use direct get (last_by_subj / next_by_subj), acks delete exactly the acked
 * sequences. Idempotent: every instance calls it at start and converges on the same config.
 */
export const openQueues = async (nc: NatsConnection, secret: Uint8Array, o: QueueOptions): Promise<Queues> => {
  const jsm = await jetstreamManager(nc);
  const maxAge = o.retentionMs + o.backstopMs;
  const window = Math.min(o.dedupeWindowMs, maxAge);
  try {
    const info = await jsm.streams.info(DELIVERY_STREAM);
    const c = info.config;
    if (c.max_age !== nanos(maxAge) || c.duplicate_window !== nanos(window) || c.allow_direct !== true) {
      await jsm.streams.update(DELIVERY_STREAM, { max_age: nanos(maxAge), duplicate_window: nanos(window), allow_direct: true });
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams
      .add({
        name: DELIVERY_STREAM,
        subjects: [QUEUE_WILDCARD],
        storage: StorageType.File,
        max_age: nanos(maxAge),
        duplicate_window: nanos(window),
        allow_direct: true,
        num_replicas: o.replicas,
      })
      .catch(async (e: unknown) => {
        // Another instance created it first.
        if (!(e instanceof JetStreamApiError)) throw e;
        await jsm.streams.info(DELIVERY_STREAM);
      });
  }

  // Acceptance records live as long as a copy can: retention plus the backstop.
  const accepted = await new Kvm(nc).create(ACCEPT_BUCKET, { history: 1, replicas: o.replicas, ttl: maxAge, storage: StorageType.File });
  const ai = await jsm.streams.info(ACCEPT_STREAM);
  if (ai.config.max_age !== nanos(maxAge) || ai.config.allow_direct !== true) {
    await jsm.streams.update(ACCEPT_STREAM, { max_age: nanos(maxAge), allow_direct: true });
  }

  return {
    jsm,
    accepted,
    subjectFor: (p, u, d) => deviceQueueSubject(secret, p, u, d),
    acceptSubject: (token) => `$KV.${ACCEPT_BUCKET}.a.${token}`,
  };
};
