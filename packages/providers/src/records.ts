import type { Infer } from "@interlink/wire";
import { WireErrorCode, record, s, wireError } from "@interlink/wire";
import type { ProviderId } from "@interlink/subjects";
import { parseProviderId } from "@interlink/subjects";
import * as E from "fp-ts/lib/Either.js";

/**
 * End-to-end protocols a provider can declare. Each names a protocol with the guarantees the
 * hub relies on (the DMA's "compatible protocols"); a second one is added here and declared by
 * the providers that speak it, without any change to the hub services.
 */
export const Protocol = {
  /** Signal Protocol: PQXDH key agreement + Double Ratchet, libsignal's message formats. */
  SignalPqxdhV1: "signal-pqxdh-v1",
} as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];

/** The protocol of an envelope that does not name one (senders written before the field existed). */
export const DEFAULT_PROTOCOL: string = Protocol.SignalPqxdhV1;

/** Protocol ids are lowercase tokens; the list of known ones is advisory, the pattern is the rule. */
export const PROTOCOL_RE = /^[a-z0-9][a-z0-9.-]{0,47}$/;
export const ProtocolIdS = s.str({ min: 1, max: 48, pattern: PROTOCOL_RE });

export const QuotasS = s.object({
  /** Messages per second the provider may send through delivery. */
  messagesPerSecond: s.optional(s.int({ min: 1, max: 10_000_000 })),
  /** Request bytes per second. */
  bytesPerSecond: s.optional(s.int({ min: 1, max: 1_000_000_000_000 })),
});
export type Quotas = Infer<typeof QuotasS>;

const ProviderIdS = s.custom<ProviderId>("provider id", (u, path) =>
  E.mapLeft(() => wireError(WireErrorCode.Invalid, "invalid provider id", path))(parseProviderId(u)),
);

/**
 * A provider's enrollment, stored in the hub's `ilk_providers` KV bucket under its id. Holds no
 * secret: the nkey is the public half, the leafnode password lives only in the hub's data dir.
 */
export const ProviderRecordS = record("provider", 1, {
  id: ProviderIdS,
  /** Who to call about this provider (an address, not a user of it). */
  contact: s.str({ min: 0, max: 256 }),
  protocols: s.array(ProtocolIdS, { min: 1, max: 8 }),
  quotas: QuotasS,
  /** Public nkey (`U…`) of the provider's client user in its account. */
  nkey: s.str({ min: 56, max: 56, pattern: /^U[A-Z2-7]{55}$/ }),
  /** User name of the provider's leafnode link (its password is not stored here). */
  leafUser: s.str({ min: 1, max: 64, pattern: /^[a-z0-9_-]+$/ }),
  status: s.oneOf(["active", "removed"] as const),
  createdAt: s.int({ min: 0 }),
  removedAt: s.optional(s.int({ min: 0 })),
});
export type ProviderRecord = Infer<typeof ProviderRecordS>;

/** NATS account of a provider: `PROV_<ID>`, uppercase, `-` → `_`. */
export const accountName = (provider: ProviderId): string => `PROV_${provider.toUpperCase().replace(/-/g, "_")}`;

/** The hub services' own account. */
export const HUB_ACCOUNT = "HUB";

/** User name of a provider's leafnode link. */
export const leafUserName = (provider: ProviderId): string => `leaf-${provider}`;
