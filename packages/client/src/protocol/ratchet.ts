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

/** Ratchet → app: receipts about messages this provider's users sent. */
export const InboundReceiptsS = record("ratchet.receipts", 1, { user: UserIdS, receipts: s.array(ReceiptS, { max: 256 }) });
export type InboundReceipts = Infer<typeof InboundReceiptsS>;

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
