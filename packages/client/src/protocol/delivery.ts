import { record, s } from "@interlink/wire";
import type { Infer, Schema } from "@interlink/wire";
import { DeviceAddressS, DeviceIdS, LocalDeviceS, MessageIdS, UserAddressS, UserIdS } from "./common.js";
import { ReceiptS } from "./receipt.js";

/** Signal-Server's per-device ciphertext limit. */
export const MAX_DEVICE_CIPHERTEXT = 256 * 1024;
export const MAX_DEVICES_PER_SEND = 16;
/**
 * A whole send request, checked by size before it is decoded. NATS' default max_payload (1 MiB)
 * is the same figure, so a send never needs a server with a raised limit.
 */
export const MAX_SEND_REQUEST_BYTES = 1024 * 1024;

export const DeviceCiphertextS = s.object({
  device: DeviceIdS,
  registrationId: s.int({ min: 1, max: 16_380 }),
  /** libsignal CiphertextMessageType: 2 Whisper, 3 PreKey. */
  type: s.int({ min: 2, max: 3 }),
  body: s.bytes({ min: 1, max: MAX_DEVICE_CIPHERTEXT }),
});

/**
 * The end-to-end protocol Interlink's session-ratchet speaks (Signal: PQXDH + Double Ratchet).
 * Providers declare their protocols at enrollment (`interlink provider add --protocols`); the hub
 * refuses an envelope whose protocol its sender did not declare (docs/providers.md).
 */
export const SIGNAL_PQXDH_V1 = "signal-pqxdh-v1";
export const ProtocolIdS = s.str({ min: 1, max: 48, pattern: /^[a-z0-9][a-z0-9.-]{0,47}$/ });

export const SendRequestS = record("delivery.send", 1, {
  id: MessageIdS,
  from: LocalDeviceS,
  to: UserAddressS,
  sentAt: s.int({ min: 0 }),
  messages: s.array(DeviceCiphertextS, { min: 1, max: MAX_DEVICES_PER_SEND }),
  /** End-to-end protocol of `messages`; absent means SIGNAL_PQXDH_V1 (senders older than the field). */
  protocol: s.optional(ProtocolIdS),
});
export type SendRequest = Infer<typeof SendRequestS>;
/**
 * `stored`: device copies queued. A repeated send of an accepted id gets the first answer back
 * with `duplicate: true`; `acceptedAt` (delivery's clock, ms) is the same in both.
 */
export const SendResponseS = s.object({ stored: s.int({ min: 0 }), duplicate: s.bool(), acceptedAt: s.optional(s.int({ min: 0 })) });
export type SendResponse = Infer<typeof SendResponseS>;

export const PullRequestS = record("delivery.pull", 1, {
  user: UserIdS,
  device: DeviceIdS,
  max: s.optional(s.int({ min: 1, max: 256 })),
  /**
   * The caller also takes the hub's receipt messages (`kind: "receipts"`, see PulledMessage).
   * Without it they are not handed out (they stay queued until acked by a caller that takes
   * them, or expire), so a puller that only knows Signal messages never sees one.
   */
  receipts: s.optional(s.bool()),
});
export type PullRequest = Infer<typeof PullRequestS>;

/** A Signal envelope for one device: what a sender's provider sent. */
export const QueuedMessageS = s.object({
  /** Absent on the wire for Signal messages; "signal" is accepted too. */
  kind: s.optional(s.literal("signal")),
  /** Opaque handle for the ack; meaningful only to delivery. */
  seq: s.int({ min: 1 }),
  id: MessageIdS,
  from: DeviceAddressS,
  sentAt: s.int({ min: 0 }),
  type: s.int({ min: 2, max: 3 }),
  body: s.bytes({ min: 1, max: MAX_DEVICE_CIPHERTEXT }),
});
export type QueuedMessage = Infer<typeof QueuedMessageS>;
/** The answer to a pull without `receipts: true`: Signal messages only. */
export const PullResponseS = s.object({ messages: s.array(QueuedMessageS, { max: 256 }), more: s.bool() });
export type PullResponse = Infer<typeof PullResponseS>;

/** Most receipts in one hub receipt message (one batch of the receipt service). */
export const MAX_RECEIPTS_PER_MESSAGE = 256;

/**
 * A hub-originated message in one of the sender's device queues: delivered receipts for
 * messages that user sent, batched by the receipt service (see docs/receipts.md). Not Signal
 * ciphertext and not from any provider: only the hub writes these (`notify`, hub-only).
 * `id` names the batch (the same batch re-sent is stored once).
 */
export const QueuedReceiptsS = s.object({
  kind: s.literal("receipts"),
  seq: s.int({ min: 1 }),
  id: MessageIdS,
  sentAt: s.int({ min: 0 }),
  receipts: s.array(ReceiptS, { min: 1, max: MAX_RECEIPTS_PER_MESSAGE }),
});
export type QueuedReceipts = Infer<typeof QueuedReceiptsS>;

/** What a pull with `receipts: true` hands out: a Signal message, or a hub receipt message. */
export type PulledMessage = QueuedMessage | QueuedReceipts;

const kindOf = (u: unknown): unknown =>
  u instanceof Map ? u.get("kind") : typeof u === "object" && u !== null && Object.hasOwn(u, "kind") ? (u as { kind: unknown }).kind : undefined;

/** Dispatches on `kind` (absent: a Signal message, as every message queued before kinds existed). */
export const PulledMessageS: Schema<PulledMessage> = s.custom<PulledMessage>("queued message", (u, path) =>
  kindOf(u) === "receipts" ? QueuedReceiptsS.decode(u, path) : QueuedMessageS.decode(u, path),
);
export const PullAllResponseS = s.object({ messages: s.array(PulledMessageS, { max: 256 }), more: s.bool() });
export type PullAllResponse = Infer<typeof PullAllResponseS>;

/**
 * Hub-internal (`ilk.delivery.v1.notify.hub`, refused from any provider): the receipt service
 * asks delivery to queue one receipt message for every device of the sender `to`. `id` is
 * derived from the batch, so a retried notify is stored once (within the dedupe window).
 * Charged to no provider's quota.
 */
export const NotifyRequestS = record("delivery.notify", 1, {
  id: MessageIdS,
  to: UserAddressS,
  sentAt: s.int({ min: 0 }),
  receipts: s.array(ReceiptS, { min: 1, max: MAX_RECEIPTS_PER_MESSAGE }),
});
export type NotifyRequest = Infer<typeof NotifyRequestS>;
/** `stored`: device copies queued (0: the sender has no registered device); `duplicate`: all were already queued. */
export const NotifyResponseS = s.object({ stored: s.int({ min: 0 }), duplicate: s.bool() });
export type NotifyResponse = Infer<typeof NotifyResponseS>;

export const AckRequestS = record("delivery.ack", 1, {
  user: UserIdS,
  device: DeviceIdS,
  seqs: s.array(s.int({ min: 1 }), { min: 1, max: 256 }),
});
export type AckRequest = Infer<typeof AckRequestS>;
export const AckResponseS = s.object({ acked: s.int({ min: 0 }) });

/** Published on ilk.evt.delivery.v1.new.<recipient provider>: "this device has mail". */
export const NewMessageEventS = record("delivery.new", 1, { user: UserIdS, device: DeviceIdS });
export type NewMessageEvent = Infer<typeof NewMessageEventS>;

/**
 * Published on ilk.evt.delivery.v1.expired.<sender provider> when a message was not acked by a
 * recipient device within the retention period and has been dropped. `user` is the sender.
 */
export const ExpiredEventS = record("delivery.expired", 1, { id: MessageIdS, user: UserIdS, to: DeviceAddressS });
export type ExpiredEvent = Infer<typeof ExpiredEventS>;

export const DeliveryErrorCode = {
  MismatchedDevices: "mismatched_devices",
  StaleDevices: "stale_devices",
  UnknownRecipient: "unknown_recipient",
  /** The id was already accepted from this sender with other content; `details.acceptedAt`. */
  MessageIdReused: "message_id_reused",
} as const;

/** `details.limit` of a `rate_limited` answer from delivery: which limit was hit. */
export const DeliveryLimit = {
  /** The sending provider's messages per second. */
  ProviderMessages: "provider_messages",
  /** The sending provider's request bytes per second. */
  ProviderBytes: "provider_bytes",
  /** The sending provider's requests in progress on one delivery instance. */
  ProviderConcurrency: "provider_concurrency",
  /** A recipient device's queue holds too many bytes; `details.devices` lists which. */
  RecipientQueue: "recipient_queue",
} as const;
