import { record, s, ContentBodySchema, ContentSchema } from "@interlink/wire";
import type { Infer } from "@interlink/wire";
import { DeviceAddressS, DeviceIdS, LocalDeviceS, MessageIdS, UserAddressS, UserIdS } from "./common.js";
import { ReceiptS } from "./receipt.js";

// A provider's own edge API (ilk.ratchet.v1.<op>.<provider>). These subjects carry plaintext and
// must never leave the provider's NATS (leafnode deny_exports / its own account).

export const RegisterRequestS = record("ratchet.register", 1, {
  user: UserIdS,
  device: DeviceIdS,
  /** Defaults from the service's config. */
  preKeys: s.optional(s.int({ min: 1, max: 100 })),
});
export type RegisterRequest = Infer<typeof RegisterRequestS>;
export const RegisterResponseS = s.object({ registrationId: s.int({ min: 1 }), created: s.bool() });

/** The app hands the content body; the ratchet stamps id and time, pads and encrypts. */
export const SendContentS = record("ratchet.send", 1, {
  from: LocalDeviceS,
  to: UserAddressS,
  id: s.optional(MessageIdS),
  content: ContentBodySchema,
});
export type SendContent = Infer<typeof SendContentS>;
export const SendContentResponseS = s.object({ id: MessageIdS, devices: s.int({ min: 0 }) });
export type SendContentResponse = Infer<typeof SendContentResponseS>;

/** Ratchet → app (request; the reply is the app's ack): one decrypted message. */
export const InboundMessageS = record("ratchet.message", 1, { to: LocalDeviceS, from: DeviceAddressS, content: ContentSchema });
export type InboundMessage = Infer<typeof InboundMessageS>;

/**
 * Ratchet → app (request; the reply is the app's ack, as for messages): receipts about messages
 * `user` sent. Delivered receipts come from the hub (a receipt message in each of the sender's
 * device queues); read and played receipts come end to end from the recipient, checked against
 * what the user sent. `device` is the sender's device whose queue carried them (each of the
 * user's devices gets its own copy).
 */
export const InboundReceiptsS = record("ratchet.receipts", 1, {
  user: UserIdS,
  device: s.optional(DeviceIdS),
  receipts: s.array(ReceiptS, { max: 256 }),
});
export type InboundReceipts = Infer<typeof InboundReceiptsS>;

/** Codes of `ilk.ratchet.v1.error.<p>` events besides libsignal's decryption failures. */
export const RatchetErrorCode = {
  /** A read or played receipt named a message its sender was never sent (dropped). */
  ForgedReceipt: "forged_receipt",
} as const;

/**
 * App → ratchet: a user's receipt settings. `readReceipts: false` (default true) means neither
 * sending read receipts nor seeing the ones contacts send (Signal's rule); delivered and played
 * receipts are not affected. Without `readReceipts` it only answers the current setting.
 */
export const ReceiptSettingsS = record("ratchet.settings", 1, { user: UserIdS, readReceipts: s.optional(s.bool()) });
export type ReceiptSettings = Infer<typeof ReceiptSettingsS>;
export const ReceiptSettingsResponseS = s.object({ readReceipts: s.bool() });
export type ReceiptSettingsResponse = Infer<typeof ReceiptSettingsResponseS>;

/** App → ratchet: how one message `user` sent fared, per recipient device. */
export const MessageStatusRequestS = record("ratchet.status", 1, { user: UserIdS, id: MessageIdS });
export type MessageStatusRequest = Infer<typeof MessageStatusRequestS>;
/**
 * `to`: the recipient the message went to (null: not in the sent log, e.g. expired or never
 * sent); `receipts`: delivered (from the hub) and read/played (end to end) per recipient device.
 */
export const MessageStatusResponseS = s.object({ to: s.nullable(UserAddressS), receipts: s.array(ReceiptS, { max: 2048 }) });
export type MessageStatusResponse = Infer<typeof MessageStatusResponseS>;

/** Ratchet → app: a message that could not be decrypted; the app decides what to show. */
export const InboundErrorS = record("ratchet.error", 1, {
  to: LocalDeviceS,
  from: DeviceAddressS,
  id: MessageIdS,
  code: s.str({ max: 64 }),
});
export type InboundError = Infer<typeof InboundErrorS>;

/** Ratchet → app: a remote user's identity key changed (reinstall, new phone, or an attack). */
export const IdentityChangeS = record("ratchet.identity", 1, {
  local: LocalDeviceS,
  remote: UserAddressS,
  safetyNumber: s.str({ min: 60, max: 60, pattern: /^[0-9]+$/ }),
});
export type IdentityChange = Infer<typeof IdentityChangeS>;

/** App → ratchet: the safety number to show for a conversation. */
export const SafetyNumberRequestS = record("ratchet.safety", 1, { local: LocalDeviceS, remote: UserAddressS });
export type SafetyNumberRequest = Infer<typeof SafetyNumberRequestS>;
export const SafetyNumberResponseS = s.object({ safetyNumber: s.nullable(s.str({ max: 60 })) });
export type SafetyNumberResponse = Infer<typeof SafetyNumberResponseS>;
