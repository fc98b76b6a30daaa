import type { Clock, ServiceError } from "@interlink/actor";
import { ErrorCode, serviceError } from "@interlink/actor";

/** A token bucket: `capacity` tokens at most (the burst), refilled at `perSecond`. */
export interface RateLimit {
  readonly capacity: number;
  readonly perSecond: number;
}

/**
 * Deployment-wide budgets. Each instance enforces `1 / instances` of them in memory (see
 * `perInstance`): NATS spreads a queue group's requests evenly, so N instances admit about the
 * configured total, and never more than it by design of the split.
 */
export interface RateLimits {
  /**
   * Claims by one provider for one target user (any devices). This is what bounds prekey
   * draining: one provider takes at most `capacity + perSecond × t` one-time keys from each
   * of a user's devices in `t` seconds, however many claims it fires.
   */
  readonly claimsPerTarget: RateLimit;
  /** Claims by one provider, all targets together. */
  readonly claimsPerProvider: RateLimit;
  /** `devices` lookups by one provider (delivery does one per send on the sender's behalf). */
  readonly lookupsPerProvider: RateLimit;
  /**
   * Lookups by one provider that found nothing (`not_found`). When spent, every `claim` and
   * `devices` of that provider is refused until it refills, hits and misses alike, so a
   * throttled prober learns nothing about which users exist.
   */
  readonly missesPerProvider: RateLimit;
}

export const DEFAULT_LIMITS: RateLimits = {
  claimsPerTarget: { capacity: 30, perSecond: 0.5 },
  claimsPerProvider: { capacity: 5_000, perSecond: 1_000 },
  lookupsPerProvider: { capacity: 20_000, perSecond: 10_000 },
  missesPerProvider: { capacity: 200, perSecond: 2 },
};

const check = (name: string, l: RateLimit): RateLimit => {
  if (!(l.capacity >= 1) || !(l.perSecond > 0) || !Number.isFinite(l.capacity) || !Number.isFinite(l.perSecond)) {
    throw new RangeError(`key-directory: rate limit ${name} needs capacity >= 1 and perSecond > 0`);
  }
  return l;
};

/** This instance's share of a deployment-wide limit; the burst never drops under one request. */
export const perInstance = (l: RateLimit, instances: number): RateLimit => ({
  capacity: Math.max(1, l.capacity / instances),
  perSecond: l.perSecond / instances,
});

export const resolveLimits = (given: Partial<RateLimits> | undefined, instances: number): RateLimits => {
  if (!Number.isInteger(instances) || instances < 1) throw new RangeError("key-directory: instances must be a positive integer");
  const all = { ...DEFAULT_LIMITS, ...given };
  return {
    claimsPerTarget: perInstance(check("claimsPerTarget", all.claimsPerTarget), instances),
    claimsPerProvider: perInstance(check("claimsPerProvider", all.claimsPerProvider), instances),
    lookupsPerProvider: perInstance(check("lookupsPerProvider", all.lookupsPerProvider), instances),
    missesPerProvider: perInstance(check("missesPerProvider", all.missesPerProvider), instances),
  };
};

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets by key, in memory. A bucket that has refilled to capacity is the same as no
 * bucket, so those are dropped when the map grows past `maxEntries`; keys are opaque tokens and
 * provider ids, never user ids.
 */
export class TokenBuckets {
  readonly #limit: RateLimit;
  readonly #clock: Clock;
  readonly #max: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limit: RateLimit, clock: Clock, maxEntries = 100_000) {
    this.#limit = limit;
    this.#clock = clock;
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#buckets.size;
  }

  #level(b: Bucket | undefined, now: number): number {
    if (b === undefined) return this.#limit.capacity;
    return Math.min(this.#limit.capacity, b.tokens + (Math.max(0, now - b.at) / 1000) * this.#limit.perSecond);
  }

  /** Milliseconds until `cost` tokens are there; 0 when they are now. */
  wait(key: string, cost = 1): number {
    const level = this.#level(this.#buckets.get(key), this.#clock.now());
    // The epsilon keeps float noise (0.999 + 0.001 ≠ 1) from adding a millisecond.
    return level >= cost ? 0 : Math.max(1, Math.ceil(((cost - level) / this.#limit.perSecond) * 1000 - 1e-6));
  }

  /** Takes `cost` tokens. Concurrent requests admitted by `wait` may drive it below zero: a debt that delays the next ones. */
  take(key: string, cost = 1): void {
    const now = this.#clock.now();
    const b = this.#buckets.get(key);
    const tokens = this.#level(b, now) - cost;
    if (b === undefined) {
      this.#buckets.set(key, { tokens, at: now });
      if (this.#buckets.size > this.#max) this.#sweep(now);
    } else {
      b.tokens = tokens;
      b.at = now;
    }
  }

  #sweep(now: number): void {
    for (const [k, b] of this.#buckets) if (this.#level(b, now) >= this.#limit.capacity) this.#buckets.delete(k);
    // Still too many busy buckets: forget the oldest (forgetting only ever forgives).
    const over = this.#buckets.size - Math.floor(this.#max * 0.9);
    if (over > 0) {
      let n = 0;
      for (const k of this.#buckets.keys()) {
        if (n++ >= over) break;
        this.#buckets.delete(k);
      }
    }
  }
}

export const rateLimited = (retryAfterMs: number): ServiceError =>
  serviceError(ErrorCode.RateLimited, "too many key requests; retry later", { retryable: true, retryAfterMs });

/**
 * Admits a request if every bucket has `cost` tokens, and then takes them from all; otherwise
 * takes nothing and answers `rate_limited` with the longest wait.
 */
export const admit = (checks: ReadonlyArray<readonly [TokenBuckets, string]>, cost = 1): ServiceError | null => {
  let wait = 0;
  for (const [b, k] of checks) wait = Math.max(wait, b.wait(k, cost));
  if (wait > 0) return rateLimited(wait);
  for (const [b, k] of checks) b.take(k, cost);
  return null;
};
