import type { Clock, ServiceError } from "@interlink/actor";
import { ErrorCode, serviceError } from "@interlink/actor";
import { DeliveryLimit, MAX_SEND_REQUEST_BYTES } from "@interlink/client";

export interface Rates {
  /** Sends accepted for processing per second (a send is one message to one user, any number of devices). */
  readonly messagesPerSec: number;
  /** Request bytes per second. */
  readonly bytesPerSec: number;
}

export interface QuotaOptions extends Rates {
  /** Bucket depth as time at the full rate: how much a quiet provider may send at once. */
  readonly burstMs: number;
  /** Requests of one provider running or waiting in one instance (any operation). */
  readonly maxInFlight: number;
  /** Rates for named providers, overriding the defaults above. */
  readonly perProvider?: Readonly<Record<string, Partial<Rates>>>;
}

class Bucket {
  #tokens: number;
  #last: number;
  constructor(
    readonly rate: number,
    readonly cap: number,
    now: number,
  ) {
    this.#tokens = cap;
    this.#last = now;
  }

  /** Refills, then 0 if `n` tokens are there, else how many ms until they would be. */
  need(n: number, now: number): number {
    if (now > this.#last) {
      this.#tokens = Math.min(this.cap, this.#tokens + ((now - this.#last) * this.rate) / 1000);
      this.#last = now;
    }
    return this.#tokens >= n ? 0 : Math.ceil(((n - this.#tokens) * 1000) / this.rate);
  }

  take(n: number): void {
    this.#tokens -= n;
  }

  full(now: number): boolean {
    return this.need(this.cap, now) === 0;
  }
}

const limited = (limit: string, retryAfterMs: number): ServiceError =>
  serviceError(ErrorCode.RateLimited, "over quota, retry later", { retryable: true, retryAfterMs: Math.max(1, retryAfterMs), details: { limit } });

/**
 * Per-provider token buckets (messages/s and bytes/s) and an in-flight cap, per instance: each
 * instance enforces the configured rates on the share of the traffic the queue group gives it,
 * so a deployment of n instances admits up to n times the rates (configure rate / n for a total).
 * Checked before a request is decoded, so a flooding provider costs little more than reading
 * its bytes off the socket.
 */
export class Quotas {
  readonly #o: QuotaOptions;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, { msgs: Bucket; bytes: Bucket }>();
  readonly #sweeper: NodeJS.Timeout;
  #limited = 0;

  constructor(o: QuotaOptions, clock: Clock) {
    this.#o = o;
    this.#clock = clock;
    // Full buckets carry no information: dropping them keeps idle providers free.
    this.#sweeper = setInterval(() => {
      const now = this.#clock.now();
      for (const [p, b] of this.#buckets) if (b.msgs.full(now) && b.bytes.full(now)) this.#buckets.delete(p);
    }, 60_000);
    this.#sweeper.unref();
  }

  get limited(): number {
    return this.#limited;
  }

  #bucketsOf(provider: string, now: number): { msgs: Bucket; bytes: Bucket } {
    let b = this.#buckets.get(provider);
    if (b === undefined) {
      const r = { ...this.#o, ...this.#o.perProvider?.[provider] };
      const burst = this.#o.burstMs / 1000;
      b = {
        msgs: new Bucket(r.messagesPerSec, Math.max(1, r.messagesPerSec * burst), now),
        // Never smaller than one request of the largest size, or that request could never pass.
        bytes: new Bucket(r.bytesPerSec, Math.max(MAX_SEND_REQUEST_BYTES, r.bytesPerSec * burst), now),
      };
      this.#buckets.set(provider, b);
    }
    return b;
  }

  /** One send of `bytes` by `provider`: undefined when admitted (and counted), else `rate_limited`. */
  admitSend(provider: string, bytes: number): ServiceError | undefined {
    const now = this.#clock.now();
    const b = this.#bucketsOf(provider, now);
    const m = b.msgs.need(1, now);
    const y = b.bytes.need(bytes, now);
    if (m > 0 || y > 0) {
      this.#limited++;
      return limited(m >= y ? DeliveryLimit.ProviderMessages : DeliveryLimit.ProviderBytes, Math.max(m, y));
    }
    b.msgs.take(1);
    b.bytes.take(bytes);
    return undefined;
  }

  /** The answer for a provider with too many requests running or waiting (counted). */
  concurrencyLimited(): ServiceError {
    this.#limited++;
    return limited(DeliveryLimit.ProviderConcurrency, 20);
  }

  close(): void {
    clearInterval(this.#sweeper);
  }
}
