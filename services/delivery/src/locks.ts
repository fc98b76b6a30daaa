/**
 * In-process mutual exclusion by key, with a bounded number of waiters per key. Only keys in
 * use take memory. Several keys are always taken in sorted order, so two holders of
 * overlapping sets cannot deadlock.
 */
export class KeyedLock {
  /** Present = held; the array holds the waiters, first come first served. */
  readonly #held = new Map<string, Array<() => void>>();
  readonly #maxWaiters: number;

  constructor(maxWaiters: number) {
    this.#maxWaiters = maxWaiters;
  }

  get held(): number {
    return this.#held.size;
  }

  #lock(key: string): Promise<void> | undefined {
    const waiters = this.#held.get(key);
    if (waiters === undefined) {
      this.#held.set(key, []);
      return Promise.resolve();
    }
    if (waiters.length >= this.#maxWaiters) return undefined;
    return new Promise((resolve) => waiters.push(resolve));
  }

  #unlock(key: string): void {
    const waiters = this.#held.get(key);
    if (waiters === undefined) return;
    const next = waiters.shift();
    if (next !== undefined) next();
    else this.#held.delete(key);
  }

  /** Takes every key; resolves with the release function, or undefined when a key has too many waiters. */
  async acquire(keys: readonly string[]): Promise<(() => void) | undefined> {
    const sorted = [...new Set(keys)].sort();
    const taken: string[] = [];
    for (const k of sorted) {
      const p = this.#lock(k);
      if (p === undefined) {
        for (const t of taken.reverse()) this.#unlock(t);
        return undefined;
      }
      await p;
      taken.push(k);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const t of taken.reverse()) this.#unlock(t);
    };
  }
}
