import type { QuotaOptions } from "./quotas.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;
const MIB = 1024 * 1024;

export interface DeliveryOptions {
  /** Undelivered messages are reported to their sender and dropped after this (default 30 days). */
  readonly retentionMs?: number;
  /** Stream max_age is retention plus this, a backstop if no sweeper runs (default retention/10 within 1 min..1 day). */
  readonly backstopMs?: number;
  /** JetStream Nats-Msg-Id window, the inner duplicate guard (default 2 min). */
  readonly dedupeWindowMs?: number;
  /** How often the expiry sweeper looks at the head of the stream (default retention/20 within 100 ms..1 min). */
  readonly sweepIntervalMs?: number;
  /** Messages the sweeper looks at per round (default 1,000). */
  readonly sweepBatch?: number;
  /** Run the expiry sweeper in this instance (default true; one instance sweeps at a time anyway). */
  readonly sweeper?: boolean;
  /** Per-provider quotas, per instance. */
  readonly quotas?: Partial<QuotaOptions>;
  /** Bytes queued for one recipient device before sends to it are `rate_limited` (default 64 MiB). */
  readonly maxQueuedBytesPerDevice?: number;
  /** retryAfterMs given with a full recipient queue (default 60 s). */
  readonly queueFullRetryAfterMs?: number;
  /** How long a device list from key-directory is reused without a change event (default 10 s; 0: fetch on every send). */
  readonly deviceCacheTtlMs?: number;
  /** Users whose device lists are cached at most (default 100,000). */
  readonly deviceCacheMaxEntries?: number;
  /** Timeout of one JetStream call (default 5 s). */
  readonly storeTimeoutMs?: number;
  /** Sends waiting for one device queue in this instance before `overloaded` (default 1,024). */
  readonly maxWaitersPerDevice?: number;
  /** Requests an instance works on at once; the rest wait, taken from the providers in turn (default 256). */
  readonly maxActiveRequests?: number;
}

export type ResolvedOptions = Required<Omit<DeliveryOptions, "quotas">> & { readonly quotas: QuotaOptions };

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

export const DEFAULT_QUOTAS: QuotaOptions = {
  messagesPerSec: 20_000,
  bytesPerSec: 64 * MIB,
  burstMs: 1_000,
  maxInFlight: 256,
};

export const resolveOptions = (o: DeliveryOptions): ResolvedOptions => {
  const retentionMs = o.retentionMs ?? 30 * DAY;
  if (!(retentionMs > 0)) throw new RangeError("delivery: retentionMs must be positive");
  return {
    retentionMs,
    backstopMs: o.backstopMs ?? clamp(retentionMs / 10, MINUTE, DAY),
    dedupeWindowMs: o.dedupeWindowMs ?? 2 * MINUTE,
    sweepIntervalMs: o.sweepIntervalMs ?? clamp(retentionMs / 20, 100, MINUTE),
    sweepBatch: o.sweepBatch ?? 1_000,
    sweeper: o.sweeper ?? true,
    quotas: { ...DEFAULT_QUOTAS, ...o.quotas },
    maxQueuedBytesPerDevice: o.maxQueuedBytesPerDevice ?? 64 * MIB,
    queueFullRetryAfterMs: o.queueFullRetryAfterMs ?? MINUTE,
    deviceCacheTtlMs: o.deviceCacheTtlMs ?? 10 * SECOND,
    deviceCacheMaxEntries: o.deviceCacheMaxEntries ?? 100_000,
    storeTimeoutMs: o.storeTimeoutMs ?? 5 * SECOND,
    maxWaitersPerDevice: o.maxWaitersPerDevice ?? 1_024,
    maxActiveRequests: o.maxActiveRequests ?? 256,
  };
};

/**
 * Options from `INTERLINK_DELIVERY_*` environment variables (see docs/delivery.md), for the
 * composition root to pass on; unset variables are left to the defaults.
 */
export const deliveryOptionsFromEnv = (env: NodeJS.ProcessEnv): DeliveryOptions => {
  const num = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === "") return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new RangeError(`${name} must be a non-negative number`);
    return n;
  };
  const pick = <K extends string>(entries: ReadonlyArray<readonly [K, number | undefined]>): Partial<Record<K, number>> =>
    Object.fromEntries(entries.filter(([, v]) => v !== undefined)) as Partial<Record<K, number>>;
  const quotas = pick([
    ["messagesPerSec", num("INTERLINK_DELIVERY_MSGS_PER_SEC")],
    ["bytesPerSec", num("INTERLINK_DELIVERY_BYTES_PER_SEC")],
    ["maxInFlight", num("INTERLINK_DELIVERY_MAX_IN_FLIGHT")],
  ] as const);
  return {
    ...pick([
      ["maxQueuedBytesPerDevice", num("INTERLINK_DELIVERY_MAX_QUEUED_BYTES")],
      ["deviceCacheTtlMs", num("INTERLINK_DELIVERY_DEVICE_CACHE_MS")],
      ["dedupeWindowMs", num("INTERLINK_DELIVERY_DEDUPE_WINDOW_MS")],
    ] as const),
    ...(Object.keys(quotas).length > 0 ? { quotas } : {}),
  };
};
