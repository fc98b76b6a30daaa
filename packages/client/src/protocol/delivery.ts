import { record, s } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { DeviceAddressS, DeviceIdS, LocalDeviceS, MessageIdS, UserAddressS, UserIdS } from "./common.js";

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

export const SendRequestS = record("delivery.send", 1, {
  id: MessageIdS,
  from: LocalDeviceS,
  to: UserAddressS,
  sentAt: s.int({ min: 0 }),
  messages: s.array(DeviceCiphertextS, { min: 1, max: MAX_DEVICES_PER_SEND }),
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
});
export type PullRequest = Infer<typeof PullRequestS>;

export const QueuedMessageS = s.object({
  /** Opaque handle for the ack; meaningful only to delivery. */
  seq: s.int({ min: 1 }),
  id: MessageIdS,
  from: DeviceAddressS,
  sentAt: s.int({ min: 0 }),
  type: s.int({ min: 2, max: 3 }),
  body: s.bytes({ min: 1, max: MAX_DEVICE_CIPHERTEXT }),
});
export type QueuedMessage = Infer<typeof QueuedMessageS>;
export const PullResponseS = s.object({ messages: s.array(QueuedMessageS, { max: 256 }), more: s.bool() });
export type PullResponse = Infer<typeof PullResponseS>;

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
