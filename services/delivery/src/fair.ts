/**
 * Runs requests with at most `maxActive` at a time, taking waiting requests from the providers
 * in turn (one each, round robin), so a provider with thousands waiting does not delay another
 * provider's request by more than one turn. A provider may have at most `maxPerProvider`
 * requests running or waiting; `admit` says whether one more fits, before the request is even
 * decoded.
 */
export class FairScheduler {
  readonly #maxActive: number;
  readonly #maxPerProvider: number;
  /** Providers with waiting requests, in turn order (a Map keeps insertion order). */
  readonly #waiting = new Map<string, Array<() => void>>();
  /** Requests running or waiting, per provider. */
  readonly #held = new Map<string, number>();
  #active = 0;

  constructor(maxActive: number, maxPerProvider: number) {
    this.#maxActive = maxActive;
    this.#maxPerProvider = maxPerProvider;
  }

  get active(): number {
    return this.#active;
  }

  /** Whether `provider` may have one more request running or waiting. */
  admit(provider: string): boolean {
    return (this.#held.get(provider) ?? 0) < this.#maxPerProvider;
  }

  async run<A>(provider: string, f: () => Promise<A>): Promise<A> {
    this.#held.set(provider, (this.#held.get(provider) ?? 0) + 1);
    try {
      if (this.#active < this.#maxActive && this.#waiting.size === 0) this.#active++;
      else {
        // The slot is handed over by whoever finishes (see #next), already counted as active.
        await new Promise<void>((resolve) => {
          const q = this.#waiting.get(provider);
          if (q === undefined) this.#waiting.set(provider, [resolve]);
          else q.push(resolve);
        });
      }
      try {
        return await f();
      } finally {
        this.#next();
      }
    } finally {
      const n = (this.#held.get(provider) ?? 1) - 1;
      if (n <= 0) this.#held.delete(provider);
      else this.#held.set(provider, n);
    }
  }

  /** A slot is free: give it to the next provider in turn, or let it go. */
  #next(): void {
    const first = this.#waiting.entries().next();
    if (first.done === true) {
      this.#active--;
      return;
    }
    const [provider, q] = first.value;
    const start = q.shift()!;
    // To the back of the line, if it has more waiting.
    this.#waiting.delete(provider);
    if (q.length > 0) this.#waiting.set(provider, q);
    start();
  }
}
