import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { nuid } from "@nats-io/transport-node";
import type { Codec, Schema } from "@interlink/wire";
import { ReplySchema, createCodec } from "@interlink/wire";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import type { ServiceError } from "./errors.js";
import { ErrorCode, fromRecord, fromWireError, noResponders, serviceError, timeout } from "./errors.js";

export interface RequesterOptions {
  /** Prefix of the shared reply subject; per provider so account permissions can pin it. */
  readonly inboxPrefix?: string;
  readonly timeoutMs?: number;
  readonly codec?: Codec;
  readonly clock?: Clock;
  /** Most requests waiting for an answer; beyond it `overloaded` without publishing. */
  readonly maxInFlight?: number;
}

interface Pending {
  readonly resolve: (r: Either<ServiceError, unknown>) => void;
  readonly deadline: number;
  readonly what: string;
}

export interface CallOptions {
  readonly timeoutMs?: number;
  readonly headers?: import("@nats-io/transport-node").MsgHdrs;
}

/**
 * Request/reply over one shared reply subscription with correlation ids.
 *
 * nats.js `request()` builds a subscription entry, a timer and (with async traces) an Error per
 * call even when it succeeds; publishing with a reply subject under one wildcard subscription
 * costs a map insert instead. Timeouts are swept on an interval, not one timer per call.
 */
export class Requester {
  readonly #nc: NatsConnection;
  readonly #codec: Codec;
  readonly #clock: Clock;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  readonly #pending = new Map<number, Pending>();
  readonly #sub: Subscription;
  readonly #sweeper: NodeJS.Timeout;
  #next = 1;
  #closed = false;

  constructor(nc: NatsConnection, opts: RequesterOptions = {}) {
    this.#nc = nc;
    this.#codec = opts.codec ?? createCodec();
    this.#clock = opts.clock ?? systemClock;
    this.#prefix = `${opts.inboxPrefix ?? "_INBOX.ilk"}.${nuid.next()}`;
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
    this.#maxInFlight = opts.maxInFlight ?? 10_000;
    this.#sub = nc.subscribe(`${this.#prefix}.*`, { callback: (_err, msg) => this.#onReply(msg) });
    this.#sweeper = setInterval(() => this.#sweep(), 50);
    this.#sweeper.unref();
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /** Sends `body` (msgpack) to `subject` and decodes the reply body with `schema`. Never rejects. */
  call<T>(subject: string, body: unknown, schema: Schema<T>, opts: CallOptions = {}): Promise<Either<ServiceError, T>> {
    return this.callRaw(subject, this.#codec.encode(body), opts).then((r) =>
      E.isLeft(r) ? r : E.mapLeft(fromWireError)(schema.decode(r.right, "body")),
    );
  }

  /** As `call`, with the request already encoded; the reply's body is returned undecoded. */
  callRaw(subject: string, payload: Uint8Array, opts: CallOptions = {}): Promise<Either<ServiceError, unknown>> {
    if (this.#pending.size >= this.#maxInFlight) {
      return Promise.resolve(E.left(serviceError(ErrorCode.Overloaded, "too many requests in flight", { retryable: true, retryAfterMs: 10 })));
    }
    if (this.#closed || this.#nc.isClosed()) {
      return Promise.resolve(E.left(serviceError(ErrorCode.Unavailable, "connection closed", { retryable: true })));
    }
    const id = this.#next++;
    const what = serviceOf(subject);
    return new Promise((resolve) => {
      this.#pending.set(id, { resolve, deadline: this.#clock.now() + (opts.timeoutMs ?? this.#timeoutMs), what });
      try {
        this.#nc.publish(subject, payload, { reply: `${this.#prefix}.${id}`, ...(opts.headers ? { headers: opts.headers } : {}) });
      } catch {
        this.#pending.delete(id);
        resolve(E.left(serviceError(ErrorCode.Unavailable, "could not publish request", { retryable: true })));
      }
    });
  }

  #onReply(msg: Msg): void {
    const token = msg.subject.slice(this.#prefix.length + 1);
    const id = Number(token);
    const p = this.#pending.get(id);
    if (p === undefined) return; // late reply after a timeout: dropped
    this.#pending.delete(id);
    const h = msg.headers;
    if (h !== undefined && msg.data.length === 0) {
      // Server status messages: 503 is "no responders" for the subject.
      p.resolve(E.left(h.code === 503 ? noResponders(p.what) : serviceError(ErrorCode.Unavailable, `status ${h.code}`, { retryable: true })));
      return;
    }
    const decoded = this.#codec.decode(msg.data);
    if (E.isLeft(decoded)) {
      p.resolve(E.left(serviceError(ErrorCode.Internal, "undecodable reply", { retryable: false })));
      return;
    }
    const reply = ReplySchema.decode(decoded.right);
    if (E.isLeft(reply)) {
      p.resolve(E.left(serviceError(ErrorCode.Internal, "malformed reply", { retryable: false })));
      return;
    }
    const r = reply.right;
    p.resolve(r.ok ? E.right(r.body) : E.left(fromRecord(r.error)));
  }

  #sweep(): void {
    const now = this.#clock.now();
    for (const [id, p] of this.#pending) {
      if (p.deadline <= now) {
        this.#pending.delete(id);
        p.resolve(E.left(timeout(p.what)));
      }
    }
  }

  /** Stops listening; requests still waiting get `unavailable`. */
  close(): void {
    // Later calls fail at once: nothing would answer them or time them out any more.
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#sub.unsubscribe();
    for (const p of this.#pending.values()) {
      p.resolve(E.left(serviceError(ErrorCode.Unavailable, "requester closed", { retryable: true })));
    }
    this.#pending.clear();
  }
}

/** "ilk.keys.v1.claim.alpha" → "keys.claim": names the operation in errors without ids. */
const serviceOf = (subject: string): string => {
  const t = subject.split(".");
  return t.length >= 4 && t[0] === "ilk" ? `${t[1]}.${t[3]}` : "request";
};
