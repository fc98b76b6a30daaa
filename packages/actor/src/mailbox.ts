import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import type { ServiceError } from "./errors.js";
import { internal, overloaded } from "./errors.js";

export interface MailboxOptions<S> {
  /** Messages waiting per actor (the one being handled not counted); beyond it callers get `overloaded`. */
  readonly capacity?: number;
  /** An actor with an empty mailbox for this long is deactivated and its cached state dropped. */
  readonly idleMs?: number;
  /** Upper bound on live actors; when reached, idle ones are evicted first, else `overloaded`. */
  readonly maxActors?: number;
  readonly clock?: Clock;
  /** Called with the cached state of an actor being deactivated. */
  readonly onDeactivate?: (key: string, state: S | undefined) => void;
}

/** The per-actor view a job gets: its key and a slot for state it wants to keep between messages. */
export interface ActorCell<S> {
  readonly key: string;
  state: S | undefined;
}

type Job<S> = (cell: ActorCell<S>) => Promise<void>;

interface Actor<S> {
  readonly cell: ActorCell<S>;
  readonly queue: Job<S>[];
  running: boolean;
  lastActive: number;
}

/**
 * Keyed actors in one process: each key handles one message at a time, in arrival order, from a
 * bounded queue. This is what keeps libsignal sessions and prekey pools from being mutated by two
 * handlers at once inside a process; across processes compare-and-swap does that job.
 */
export class ActorSystem<S = unknown> {
  readonly #actors = new Map<string, Actor<S>>();
  readonly #capacity: number;
  readonly #idleMs: number;
  readonly #maxActors: number;
  readonly #clock: Clock;
  readonly #onDeactivate: ((key: string, state: S | undefined) => void) | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #activations = 0;
  #deactivations = 0;

  constructor(opts: MailboxOptions<S> = {}) {
    this.#capacity = opts.capacity ?? 64;
    this.#idleMs = opts.idleMs ?? 60_000;
    this.#maxActors = opts.maxActors ?? 100_000;
    this.#clock = opts.clock ?? systemClock;
    this.#onDeactivate = opts.onDeactivate;
    const every = Math.max(10, Math.min(this.#idleMs, 5_000));
    this.#sweeper = setInterval(() => this.sweep(), every);
    this.#sweeper.unref();
  }

  /**
   * Runs `f` inside the actor `key` once every earlier message for that key has finished.
   * Resolves with f's result, or `overloaded` at once when the mailbox is full.
   */
  ask<A>(key: string, f: (cell: ActorCell<S>) => Promise<Either<ServiceError, A>>): Promise<Either<ServiceError, A>> {
    let actor = this.#actors.get(key);
    if (actor === undefined) {
      if (this.#actors.size >= this.#maxActors && !this.#evictOneIdle()) {
        return Promise.resolve(E.left(overloaded("actor system")));
      }
      actor = { cell: { key, state: undefined }, queue: [], running: false, lastActive: this.#clock.now() };
      this.#actors.set(key, actor);
      this.#activations++;
    } else if (actor.queue.length >= this.#capacity) {
      return Promise.resolve(E.left(overloaded("actor mailbox")));
    }
    const a = actor;
    return new Promise((resolve) => {
      a.queue.push(async (cell) => {
        try {
          resolve(await f(cell));
        } catch {
          // A throw is a bug in the handler; the actor survives and the caller gets a retryable error.
          resolve(E.left(internal()));
        }
      });
      if (!a.running) void this.#run(a);
    });
  }

  async #run(actor: Actor<S>): Promise<void> {
    actor.running = true;
    let job: Job<S> | undefined;
    while ((job = actor.queue.shift()) !== undefined) {
      await job(actor.cell);
    }
    actor.running = false;
    actor.lastActive = this.#clock.now();
  }

  #evictOneIdle(): boolean {
    for (const [key, a] of this.#actors) {
      if (!a.running && a.queue.length === 0) {
        this.#deactivate(key, a);
        return true;
      }
    }
    return false;
  }

  #deactivate(key: string, a: Actor<S>): void {
    this.#actors.delete(key);
    this.#deactivations++;
    this.#onDeactivate?.(key, a.cell.state);
  }

  /** Deactivates actors idle for longer than idleMs. Runs on a timer; public so tests can drive it with a fake clock. */
  sweep(): void {
    const cutoff = this.#clock.now() - this.#idleMs;
    for (const [key, a] of this.#actors) {
      if (!a.running && a.queue.length === 0 && a.lastActive <= cutoff) this.#deactivate(key, a);
    }
  }

  /** Drops the cached state of one actor (e.g. after a CAS conflict shows it is stale). */
  forget(key: string): void {
    const a = this.#actors.get(key);
    if (a !== undefined) a.cell.state = undefined;
  }

  stats(): { live: number; activations: number; deactivations: number; queued: number } {
    let queued = 0;
    for (const a of this.#actors.values()) queued += a.queue.length;
    return { live: this.#actors.size, activations: this.#activations, deactivations: this.#deactivations, queued };
  }

  /** Waits until every mailbox is empty, then stops the sweeper. */
  async close(): Promise<void> {
    while ([...this.#actors.values()].some((a) => a.running || a.queue.length > 0)) {
      await new Promise((r) => setTimeout(r, 5));
    }
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}
