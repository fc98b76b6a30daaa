import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Clock, Requester, ServiceError } from "@interlink/actor";
import { ErrorCode, serviceError } from "@interlink/actor";
import type { DevicesResponse, SendRequest } from "@interlink/client";
import { DeliveryErrorCode, DevicesResponseS } from "@interlink/client";
import type { ProviderId } from "@interlink/subjects";
import { Service, eventWildcard, requestSubject } from "@interlink/subjects";
import type { Codec } from "@interlink/wire";

type DeviceList = DevicesResponse["devices"];

interface Entry {
  readonly devices: DeviceList;
  readonly at: number;
}

export interface DeviceCacheOptions {
  /** How long a fetched device list is trusted without an event saying it changed; 0: no cache. */
  readonly ttlMs: number;
  /** Most users cached; the oldest are dropped beyond it. */
  readonly maxEntries: number;
}

/**
 * Missing, extra and stale devices, the way Signal-Server answers 409/410, against
 * key-directory's device list.
 *
 * Lists are cached for a short time and dropped as soon as key-directory announces a change
 * (`ilk.evt.keys.v1.devices.*`, every instance listens). An error is never answered from the
 * cache: when the cached list disagrees with a send, the list is fetched again first. So a
 * stale cache can only ever let a send through that lacks a device added (or re-registered)
 * in the last `ttlMs` and whose event was lost.
 */
export class DeviceDirectory {
  readonly #hub: Requester;
  readonly #clock: Clock;
  readonly #o: DeviceCacheOptions;
  /**
   * user → "caller/provider" → list: an event that names only the user drops every entry of it.
   * Per calling provider, because key-directory counts a lookup as that provider's interest in
   * the user (it then sends it the user's device events): each sender still looks up at least
   * once per TTL.
   */
  readonly #cache = new Map<string, Map<string, Entry>>();
  readonly #inflight = new Map<string, Promise<Either<ServiceError, DeviceList>>>();
  readonly #sub: Subscription | undefined;
  readonly #sweeper: NodeJS.Timeout | undefined;
  #size = 0;
  #invalidations = 0;
  #stats = { hits: 0, fetches: 0, invalidated: 0 };

  constructor(nc: NatsConnection, hub: Requester, codec: Codec, clock: Clock, o: DeviceCacheOptions) {
    this.#hub = hub;
    this.#clock = clock;
    this.#o = o;
    if (o.ttlMs > 0) {
      this.#sub = nc.subscribe(eventWildcard(Service.Keys, "devices"), {
        callback: (_e, m) => {
          const ev = codec.decode(m.data);
          const user = E.isRight(ev) ? field(ev.right, "user") : undefined;
          if (user === undefined) this.clear();
          else this.invalidate(user);
        },
      });
      this.#sweeper = setInterval(() => this.#sweep(), Math.max(1_000, o.ttlMs));
      this.#sweeper.unref();
    }
  }

  stats(): { entries: number; hits: number; fetches: number; invalidated: number } {
    return { entries: this.#size, ...this.#stats };
  }

  /** Drops every cached list of `user` (under any provider, for any caller). */
  invalidate(user: string): void {
    this.#invalidations++;
    const m = this.#cache.get(user);
    if (m === undefined) return;
    this.#size -= m.size;
    this.#stats.invalidated += m.size;
    this.#cache.delete(user);
  }

  clear(): void {
    this.#invalidations++;
    this.#cache.clear();
    this.#size = 0;
  }

  /** Right when `req.messages` covers exactly the recipient's current devices. */
  async check(provider: ProviderId, req: SendRequest): Promise<Either<ServiceError, void>> {
    const cached = this.#get(`${provider}/${req.to.provider}`, req.to.user);
    if (cached !== undefined) {
      this.#stats.hits++;
      if (E.isRight(compare(provider, req, cached))) return E.right(undefined);
    }
    const fresh = await this.#fetch(provider, req.to.provider, req.to.user);
    if (E.isLeft(fresh)) return fresh;
    return compare(provider, req, fresh.right);
  }

  /** The user's current devices as `caller` sees them (cached like `check`'s lists). */
  async list(caller: ProviderId, provider: ProviderId, user: string): Promise<Either<ServiceError, DeviceList>> {
    const cached = this.#get(`${caller}/${provider}`, user);
    if (cached !== undefined) {
      this.#stats.hits++;
      return E.right(cached);
    }
    return this.#fetch(caller, provider, user);
  }

  #get(scope: string, user: string): DeviceList | undefined {
    const e = this.#cache.get(user)?.get(scope);
    if (e === undefined) return undefined;
    return this.#clock.now() - e.at < this.#o.ttlMs ? e.devices : undefined;
  }

  #fetch(caller: ProviderId, provider: ProviderId, user: string): Promise<Either<ServiceError, DeviceList>> {
    const scope = `${caller}/${provider}`;
    const key = `${scope}/${user}`;
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const epoch = this.#invalidations;
    const p = this.#hub
      .call(requestSubject(Service.Keys, "devices", caller), { v: 1, provider, user }, DevicesResponseS)
      .then((r): Either<ServiceError, DeviceList> => {
        this.#stats.fetches++;
        if (E.isLeft(r)) {
          return r.left.code === ErrorCode.NotFound
            ? E.left(serviceError(DeliveryErrorCode.UnknownRecipient, "recipient has no registered devices"))
            : r;
        }
        // A change announced while this fetch was on its way may not be in the answer.
        if (this.#o.ttlMs > 0 && epoch === this.#invalidations) this.#put(scope, user, r.right.devices);
        return E.right(r.right.devices);
      })
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  #put(scope: string, user: string, devices: DeviceList): void {
    let m = this.#cache.get(user);
    if (m === undefined) {
      while (this.#size >= this.#o.maxEntries && this.#cache.size > 0) {
        // Maps iterate in insertion order: the first user is the one cached longest ago.
        const [oldest, om] = this.#cache.entries().next().value as [string, Map<string, Entry>];
        this.#cache.delete(oldest);
        this.#size -= om.size;
      }
      m = new Map();
      this.#cache.set(user, m);
    }
    if (!m.has(scope)) this.#size++;
    m.set(scope, { devices, at: this.#clock.now() });
  }

  #sweep(): void {
    const cutoff = this.#clock.now() - this.#o.ttlMs;
    for (const [user, m] of this.#cache) {
      for (const [p, e] of m) {
        if (e.at <= cutoff) {
          m.delete(p);
          this.#size--;
        }
      }
      if (m.size === 0) this.#cache.delete(user);
    }
  }

  close(): void {
    this.#sub?.unsubscribe();
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.clear();
  }
}

const field = (u: unknown, k: string): string | undefined => {
  const v = u instanceof Map ? u.get(k) : typeof u === "object" && u !== null ? (u as Record<string, unknown>)[k] : undefined;
  return typeof v === "string" ? v : undefined;
};

const compare = (provider: ProviderId, req: SendRequest, listed: DeviceList): Either<ServiceError, void> => {
  // The sender's own device never gets a copy of its own message.
  const self = req.to.provider === provider && req.to.user === req.from.user;
  const registered = listed.filter((d) => !(self && d.device === req.from.device));
  const sent = new Map<number, number>(req.messages.map((m) => [m.device, m.registrationId]));
  const missing = registered.filter((d) => !sent.has(d.device)).map((d) => d.device);
  const known = new Set<number>(registered.map((d) => d.device));
  const extra = [...sent.keys()].filter((d) => !known.has(d));
  if (missing.length > 0 || extra.length > 0 || sent.size !== req.messages.length) {
    return E.left(serviceError(DeliveryErrorCode.MismatchedDevices, "devices do not match the recipient's device list", { details: { missing, extra } }));
  }
  const stale = registered.filter((d) => sent.get(d.device) !== d.registrationId).map((d) => d.device);
  if (stale.length > 0) {
    return E.left(serviceError(DeliveryErrorCode.StaleDevices, "some devices were re-registered", { details: { stale } }));
  }
  return E.right(undefined);
};
