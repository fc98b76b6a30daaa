/** What this instance last knew about a device queue's newest message. */
export interface Tail {
  /** The queue's subject (a keyed hash: worth not recomputing). */
  readonly subject: string;
  /** Sequence of the newest message, 0 for an empty queue; undefined when unknown. */
  seq: number | undefined;
  /** The running byte count carried by that message (0 for an empty queue). */
  running: number;
  at: number;
}

/**
 * A bounded, expiring memory of recently used device queues: their subject and newest message,
 * so a send can publish with the expected last sequence without reading it first. A guess that
 * is wrong (another instance wrote, or acks emptied the queue) costs one refused publish and a
 * read: the stream's expected-sequence check, not this cache, keeps the count exact. Idle
 * queues drop out after `idleMs`, so an idle device costs nothing here.
 */
export class TailCache {
  readonly #map = new Map<string, Tail>();
  readonly #max: number;
  readonly #idleMs: number;
  readonly #now: () => number;
  readonly #sweeper: NodeJS.Timeout;

  constructor(max: number, idleMs: number, now: () => number) {
    this.#max = max;
    this.#idleMs = idleMs;
    this.#now = now;
    this.#sweeper = setInterval(() => this.sweep(), Math.max(1_000, idleMs / 2));
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#map.size;
  }

  /** The entry for `key`, created (with an unknown tail) by `subject()` when missing; marked as used. */
  get(key: string, subject: () => string): Tail {
    let t = this.#map.get(key);
    if (t !== undefined) this.#map.delete(key);
    else {
      t = { subject: subject(), seq: undefined, running: 0, at: 0 };
      if (this.#map.size >= this.#max) this.#map.delete(this.#map.keys().next().value as string);
    }
    t.at = this.#now();
    this.#map.set(key, t);
    return t;
  }

  /** Drops entries not used for `idleMs`; the map is in order of last use. */
  sweep(): void {
    const cutoff = this.#now() - this.#idleMs;
    for (const [k, t] of this.#map) {
      if (t.at > cutoff) break;
      this.#map.delete(k);
    }
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#map.clear();
  }
}
