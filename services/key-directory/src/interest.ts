import type { KV } from "@nats-io/kv";
import * as E from "fp-ts/lib/Either.js";
import type { Clock, Logger } from "@interlink/actor";
import type { ProviderId } from "@interlink/subjects";
import { parseProviderId } from "@interlink/subjects";
import type { Codec } from "@interlink/wire";

/** Most providers one device change is announced to, besides the owner. */
export const MAX_INTERESTED = 1_000;

/**
 * Which providers care about a user's devices: those that claimed a bundle of, or looked up the
 * devices of, that user within the bucket's max age. Recorded as `<user token>.<provider>` in a
 * KV bucket with that max age. A put refreshes the entry, so this instance writes a given pair
 * at most once per half max age (remembered in memory, bounded): the hot path costs a map lookup.
 */
export class Interest {
  readonly #kv: KV;
  readonly #ttlMs: number;
  readonly #clock: Clock;
  readonly #codec: Codec;
  readonly #log: Logger;
  readonly #written = new Map<string, number>();
  readonly #max: number;

  constructor(kv: KV, opts: { ttlMs: number; clock: Clock; codec: Codec; log: Logger; maxRemembered?: number }) {
    this.#kv = kv;
    this.#ttlMs = opts.ttlMs;
    this.#clock = opts.clock;
    this.#codec = opts.codec;
    this.#log = opts.log;
    this.#max = opts.maxRemembered ?? 100_000;
  }

  /** Records that `provider` is interested in the user; never fails the request that caused it. */
  async note(userToken: string, provider: ProviderId): Promise<void> {
    const key = `${userToken}.${provider}`;
    const now = this.#clock.now();
    const at = this.#written.get(key);
    if (at !== undefined && now - at < this.#ttlMs / 2) return;
    try {
      await this.#kv.put(key, this.#codec.encode({ v: 1, at: now }));
      this.#written.delete(key);
      this.#written.set(key, now);
      if (this.#written.size > this.#max) {
        const oldest = this.#written.keys().next();
        if (!oldest.done) this.#written.delete(oldest.value);
      }
    } catch (err) {
      this.#log.warn("interest not recorded", { error: err instanceof Error ? err.name : "error" });
    }
  }

  /** Providers interested in the user, at most MAX_INTERESTED. */
  async list(userToken: string): Promise<ProviderId[]> {
    const out: ProviderId[] = [];
    try {
      const keys = await this.#kv.keys(`${userToken}.*`);
      for await (const k of keys) {
        const p = parseProviderId(k.slice(userToken.length + 1));
        if (E.isRight(p)) out.push(p.right);
        if (out.length >= MAX_INTERESTED) {
          keys.stop();
          break;
        }
      }
    } catch (err) {
      this.#log.warn("interested providers not listed", { error: err instanceof Error ? err.name : "error" });
    }
    return out;
  }
}
