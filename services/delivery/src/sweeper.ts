import * as E from "fp-ts/lib/Either.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { CasStore, Clock, Logger } from "@interlink/actor";
import type { ExpiredEvent } from "@interlink/client";
import { Service, eventSubject } from "@interlink/subjects";
import type { Codec } from "@interlink/wire";
import { decodeWith } from "@interlink/wire";
import type { FastJs, StoredMsg } from "./fastjs.js";
import { DELIVERY_STREAM } from "./queues.js";
import type { Lease } from "./records.js";
import { StoredMessageS } from "./records.js";

export interface SweeperOptions {
  readonly retentionMs: number;
  readonly intervalMs: number;
  /** Messages looked at per round before yielding to the next timer tick. */
  readonly batch: number;
  readonly instanceId: string;
}

const LEASE_KEY = "lease.sweeper";
/** Deletes in flight at once while walking the head of the stream. */
const PIPELINE = 64;

/**
 * Reports and drops messages nobody acked within the retention period.
 *
 * JetStream's max_age drops silently (2.9 has no per-message TTL and no advisory to rely on),
 * so delivery walks the head of the stream itself: from the first sequence upward, every
 * message older than the retention is deleted and, if the delete succeeded, its sender's
 * provider gets `ilk.evt.delivery.v1.expired.<provider>`. It stops at the first young message:
 * stream order is arrival order. A delete that finds nothing means the recipient acked it
 * meanwhile, so no event: the delete decides between "delivered" and "expired", exactly once.
 *
 * One instance sweeps at a time, holding a lease in KV renewed with compare-and-swap; a
 * second sweeper would be wasted work, never a double event. Events are core NATS, at most
 * once, like every other event.
 */
export class ExpirySweeper {
  readonly #fast: FastJs;
  readonly #lease: CasStore<Lease>;
  readonly #nc: NatsConnection;
  readonly #codec: Codec;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #o: SweeperOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #cursor = 0;
  #expired = 0;
  #leader = false;

  constructor(fast: FastJs, lease: CasStore<Lease>, nc: NatsConnection, codec: Codec, clock: Clock, log: Logger, o: SweeperOptions) {
    this.#fast = fast;
    this.#lease = lease;
    this.#nc = nc;
    this.#codec = codec;
    this.#clock = clock;
    this.#log = log;
    this.#o = o;
  }

  get expired(): number {
    return this.#expired;
  }

  get leader(): boolean {
    return this.#leader;
  }

  start(): void {
    this.#schedule(this.#o.intervalMs);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().finally(() => (this.#running = undefined));
    }, ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    let more = false;
    try {
      if (await this.#holdLease()) more = (await this.sweep()) >= this.#o.batch;
    } catch (err) {
      this.#log.warn("expiry sweep failed", { error: err instanceof Error ? err.name : "error" });
    }
    this.#schedule(more ? 0 : this.#o.intervalMs);
  }

  /** Takes or renews the lease; false while another live instance holds it. */
  async #holdLease(): Promise<boolean> {
    const now = this.#clock.now();
    const ttl = Math.max(3 * this.#o.intervalMs, 5_000);
    const r = await this.#lease.modify<boolean>(LEASE_KEY, (cur) =>
      cur === null || cur.value.holder === this.#o.instanceId || cur.value.until < now
        ? E.right({ write: { v: 1, holder: this.#o.instanceId, until: now + ttl }, result: true })
        : E.right({ keep: true, result: false }),
    );
    const leader = E.isRight(r) && r.right;
    if (leader && !this.#leader) this.#cursor = 0;
    this.#leader = leader;
    return leader;
  }

  /** One round over the head of the stream; returns how many messages it looked at. */
  async sweep(): Promise<number> {
    const cutoff = this.#clock.now() - this.#o.retentionMs;
    const inFlight = new Set<Promise<void>>();
    let failed: unknown;
    let looked = 0;
    let seq = this.#cursor;
    while (looked < this.#o.batch && !this.#stopped && failed === undefined) {
      const m = await this.#fast.get(DELIVERY_STREAM, seq + 1, ">");
      if (m === null || m.timeMs > cutoff) break;
      looked++;
      seq = m.seq;
      // Handled at once, so a failed delete is never an unhandled rejection while we read on.
      const p: Promise<void> = this.#expire(m).then(
        () => void inFlight.delete(p),
        (err: unknown) => {
          failed ??= err;
          inFlight.delete(p);
        },
      );
      inFlight.add(p);
      if (inFlight.size >= PIPELINE) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failed !== undefined) throw failed;
    // Everything up to `seq` was old and is gone now (deleted here, or acked): start after it next time.
    this.#cursor = seq;
    return looked;
  }

  async #expire(m: StoredMsg): Promise<void> {
    const deleted = await this.#fast.delete(DELIVERY_STREAM, m.seq);
    if (!deleted) return;
    this.#expired++;
    const rec = decodeWith(this.#codec, StoredMessageS, m.data);
    if (E.isLeft(rec)) {
      this.#log.warn("expired message without routing data dropped", { seq: m.seq });
      return;
    }
    const r = rec.right;
    // A receipt message has no sender to tell: it just goes.
    if (r.kind === "receipts") return;
    if (r.to === undefined) {
      this.#log.warn("expired message without routing data dropped", { seq: m.seq });
      return;
    }
    const { id, from, to } = r;
    const ev: ExpiredEvent = { v: 1, id, user: from.user, to };
    this.#nc.publish(eventSubject(Service.Delivery, "expired", from.provider), this.#codec.encode(ev));
  }

  /** Stops the timer, waits for a round in progress, and gives the lease up. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running;
    if (this.#leader) {
      await this.#lease.modify(LEASE_KEY, (cur) =>
        cur !== null && cur.value.holder === this.#o.instanceId
          ? E.right({ write: { ...cur.value, until: 0 }, result: undefined })
          : E.right({ keep: true, result: undefined }),
      );
      this.#leader = false;
    }
  }
}
