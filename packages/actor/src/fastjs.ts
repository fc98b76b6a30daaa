import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import { headers as natsHeaders, nuid } from "@nats-io/transport-node";

/** JetStream API error codes this service reacts to. */
export const JsErr = {
  /** Nats-Expected-Last-Subject-Sequence did not match. */
  WrongLastSequence: 10071,
  /** Delete of a sequence that is not (or no longer) in the stream. */
  NoMessageFound: 10057,
} as const;

/** Why a store call failed: the store did not answer, is not there, or refused with an API error. */
export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(
    readonly kind: "timeout" | "unavailable" | "api",
    readonly errCode = 0,
    message: string = kind,
  ) {
    super(message);
  }
}

/** A message read from a stream with direct get. */
export interface StoredMsg {
  readonly seq: number;
  readonly subject: string;
  /** Stream time of the message, ms since the epoch. */
  readonly timeMs: number;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs;
}

export interface PubAck {
  readonly seq: number;
  readonly duplicate: boolean;
}

interface Pending {
  readonly resolve: (m: Msg) => void;
  readonly reject: (e: StoreError) => void;
  readonly deadline: number;
}

const text = new TextDecoder();
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const json = (o: unknown): Uint8Array => encoder.encode(JSON.stringify(o));

/**
 * The few JetStream calls the services make on their hot paths (publish with headers, direct get,
 * delete), spoken directly on the JetStream API subjects over one shared reply subscription.
 *
 * nats.js' `js.publish()` and `request()` build a subscription entry, a timer and an Error per
 * call even when they succeed (DESIGN.md: ~20k/s against ~88k/s raw); here a call costs a map
 * insert. Timeouts are swept every 50 ms. Works the same on nats-server 2.9 through 2.12.
 */
export class FastJs {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #api: string;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #sub: Subscription;
  readonly #sweeper: NodeJS.Timeout;
  #next = 1;
  #closed = false;

  constructor(nc: NatsConnection, opts: { timeoutMs?: number; apiPrefix?: string } = {}) {
    this.#nc = nc;
    this.#api = opts.apiPrefix ?? "$JS.API";
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
    this.#prefix = `_INBOX.ilk.js.${nuid.next()}`;
    this.#sub = nc.subscribe(`${this.#prefix}.*`, { callback: (_e, m) => this.#onReply(m) });
    this.#sweeper = setInterval(() => this.#sweep(), 50);
    this.#sweeper.unref();
  }

  #request(subject: string, payload: Uint8Array, hdrs?: MsgHdrs): Promise<Msg> {
    if (this.#closed || this.#nc.isClosed()) return Promise.reject(new StoreError("unavailable", 0, "connection closed"));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline: Date.now() + this.#timeoutMs });
      try {
        this.#nc.publish(subject, payload, { reply: `${this.#prefix}.${id}`, ...(hdrs !== undefined ? { headers: hdrs } : {}) });
      } catch {
        this.#pending.delete(id);
        reject(new StoreError("unavailable", 0, "could not publish"));
      }
    });
  }

  #onReply(m: Msg): void {
    const id = Number(m.subject.slice(this.#prefix.length + 1));
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    p.resolve(m);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, p] of this.#pending) {
      if (p.deadline <= now) {
        this.#pending.delete(id);
        p.reject(new StoreError("timeout"));
      }
    }
  }

  /** Publishes to a stream subject and waits for the stream's ack. Headers: name → value. */
  async publish(subject: string, data: Uint8Array, hdrs?: ReadonlyArray<readonly [string, string]>): Promise<PubAck> {
    let h: MsgHdrs | undefined;
    if (hdrs !== undefined && hdrs.length > 0) {
      h = natsHeaders();
      for (const [k, v] of hdrs) h.set(k, v);
    }
    const m = await this.#request(subject, data, h);
    if (m.data.length === 0) throw statusError(m);
    const r = parseJson(m.data) as { seq?: number; duplicate?: boolean; error?: { err_code?: number; description?: string } };
    if (r.error !== undefined) throw new StoreError("api", r.error.err_code ?? 0, r.error.description ?? "publish refused");
    if (typeof r.seq !== "number") throw new StoreError("api", 0, "malformed publish ack");
    return { seq: r.seq, duplicate: r.duplicate === true };
  }

  /** The last message on `subject`, or null when it has none. */
  lastBySubject(stream: string, subject: string): Promise<StoredMsg | null> {
    return this.#request(`${this.#api}.DIRECT.GET.${stream}.${subject}`, EMPTY).then(toStored);
  }

  /** The message at `seq`, or with `nextBySubject` the first one at or after `seq` on that subject (wildcards allowed). */
  get(stream: string, seq: number, nextBySubject?: string): Promise<StoredMsg | null> {
    const q = nextBySubject === undefined ? { seq } : { seq, next_by_subj: nextBySubject };
    return this.#request(`${this.#api}.DIRECT.GET.${stream}`, json(q)).then(toStored);
  }

  /** Deletes one message (no erase). False when it was not there (already deleted, or never was). */
  async delete(stream: string, seq: number): Promise<boolean> {
    const m = await this.#request(`${this.#api}.STREAM.MSG.DELETE.${stream}`, json({ seq, no_erase: true }));
    if (m.data.length === 0) throw statusError(m);
    const r = parseJson(m.data) as { success?: boolean; error?: { err_code?: number; description?: string } };
    if (r.error !== undefined) {
      if (r.error.err_code === JsErr.NoMessageFound) return false;
      throw new StoreError("api", r.error.err_code ?? 0, r.error.description ?? "delete refused");
    }
    return r.success === true;
  }

  /**
   * Purges the messages on `subject` with a sequence below `below` (never one at or above it, so
   * never a message that arrived later); returns how many were removed.
   */
  async purgeBelow(stream: string, subject: string, below: number): Promise<number> {
    const m = await this.#request(`${this.#api}.STREAM.PURGE.${stream}`, json({ filter: subject, seq: below }));
    if (m.data.length === 0) throw statusError(m);
    const r = parseJson(m.data) as { purged?: number; error?: { err_code?: number; description?: string } };
    if (r.error !== undefined) throw new StoreError("api", r.error.err_code ?? 0, r.error.description ?? "purge refused");
    return r.purged ?? 0;
  }

  /** Stops listening; calls still waiting fail with `unavailable`. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#sub.unsubscribe();
    for (const p of this.#pending.values()) p.reject(new StoreError("unavailable", 0, "closed"));
    this.#pending.clear();
  }
}

const parseJson = (b: Uint8Array): unknown => {
  try {
    return JSON.parse(text.decode(b));
  } catch {
    throw new StoreError("api", 0, "malformed response");
  }
};

const statusError = (m: Msg): StoreError => {
  const code = m.headers?.code ?? 0;
  return code === 503 ? new StoreError("unavailable", 0, "no responders") : new StoreError("api", 0, `status ${code}`);
};

const toStored = (m: Msg): StoredMsg | null => {
  const h = m.headers;
  if (h === undefined) throw new StoreError("api", 0, "direct get answered without headers");
  const code = h.code;
  if (code === 404) return null;
  if (code !== 0 && code !== 200) throw statusError(m);
  const seq = Number(h.get("Nats-Sequence"));
  const subject = h.get("Nats-Subject");
  if (!Number.isSafeInteger(seq) || seq < 1 || subject === "") throw new StoreError("api", 0, "direct get answered without sequence");
  return { seq, subject, timeMs: Date.parse(h.get("Nats-Time-Stamp")) || 0, data: m.data, headers: h };
};
