/**
 * Collects items per key and flushes each key's batch once, `windowMs` after its first item (or
 * at `max` items), so a burst of receipts for one sender goes out as one message.
 */
export class Batcher<T> {
  readonly #pending = new Map<string, { items: T[]; timer: NodeJS.Timeout }>();

  constructor(
    private readonly windowMs: number,
    private readonly max: number,
    private readonly flush: (key: string, items: T[]) => void,
  ) {}

  add(key: string, item: T): void {
    const cur = this.#pending.get(key);
    if (cur !== undefined) {
      cur.items.push(item);
      if (cur.items.length >= this.max) this.#flush(key);
      return;
    }
    const timer = setTimeout(() => this.#flush(key), this.windowMs);
    this.#pending.set(key, { items: [item], timer });
    if (this.max <= 1) this.#flush(key);
  }

  #flush(key: string): void {
    const cur = this.#pending.get(key);
    if (cur === undefined) return;
    clearTimeout(cur.timer);
    this.#pending.delete(key);
    this.flush(key, cur.items);
  }

  flushAll(): void {
    for (const key of [...this.#pending.keys()]) this.#flush(key);
  }
}
