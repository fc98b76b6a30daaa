import type { KV } from "@nats-io/kv";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { Codec, Schema } from "@interlink/wire";
import { createCodec } from "@interlink/wire";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "./errors.js";
import { ErrorCode, serviceError } from "./errors.js";

export interface Versioned<T> {
  readonly value: T;
  /** KV revision of the entry; 0 means "does not exist yet". */
  readonly revision: number;
}

/** What a modify step decides: write this value, or leave the entry alone and return a result. */
export type Step<T, A> =
  | { readonly write: T; readonly result: A }
  | { readonly keep: true; readonly result: A };

const isConflict = (err: unknown): boolean =>
  err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

const storeError = (err: unknown): ServiceError =>
  serviceError(ErrorCode.Unavailable, `state store unavailable (${err instanceof Error ? err.name : "error"})`, {
    retryable: true,
    retryAfterMs: 200,
  });

/**
 * Typed, compare-and-swap state over a JetStream KV bucket. Values are msgpack records validated
 * on the way out, so a corrupt or foreign entry is an error, not a crash.
 */
export class CasStore<T> {
  readonly #kv: KV;
  readonly #schema: Schema<T>;
  readonly #codec: Codec;
  #conflicts = 0;

  constructor(kv: KV, schema: Schema<T>, codec?: Codec) {
    this.#kv = kv;
    this.#schema = schema;
    this.#codec = codec ?? createCodec();
  }

  get conflicts(): number {
    return this.#conflicts;
  }

  async get(key: string): Promise<Either<ServiceError, Versioned<T> | null>> {
    let entry;
    try {
      entry = await this.#kv.get(key);
    } catch (err) {
      return E.left(storeError(err));
    }
    if (entry === null || entry.operation !== "PUT") return E.right(null);
    const decoded = this.#codec.decode(entry.value);
    const v = E.isLeft(decoded) ? decoded : this.#schema.decode(decoded.right, "state");
    if (E.isLeft(v)) return E.left(serviceError(ErrorCode.Internal, "stored state is unreadable", { retryable: false }));
    return E.right({ value: v.right, revision: entry.revision });
  }

  /**
   * Writes `value` if the entry is still at `revision` (0: only if absent). Left `conflict`
   * when someone else wrote first: the caller reloads and decides again.
   */
  async put(key: string, value: T, revision: number): Promise<Either<ServiceError, number>> {
    const bytes = this.#codec.encode(value);
    try {
      const rev = revision === 0 ? await this.#kv.create(key, bytes) : await this.#kv.update(key, bytes, revision);
      return E.right(rev);
    } catch (err) {
      if (isConflict(err)) {
        this.#conflicts++;
        return E.left(serviceError(ErrorCode.Conflict, "state changed concurrently", { retryable: true }));
      }
      return E.left(storeError(err));
    }
  }

  async delete(key: string, revision?: number): Promise<Either<ServiceError, void>> {
    try {
      await this.#kv.delete(key, revision !== undefined ? { previousSeq: revision } : undefined);
      return E.right(undefined);
    } catch (err) {
      if (isConflict(err)) {
        this.#conflicts++;
        return E.left(serviceError(ErrorCode.Conflict, "state changed concurrently", { retryable: true }));
      }
      return E.left(storeError(err));
    }
  }

  /**
   * Read-decide-write with compare-and-swap, retried on conflict. `step` must be a pure decision
   * on the value it is given: it may run several times.
   */
  async modify<A>(
    key: string,
    step: (current: Versioned<T> | null) => Either<ServiceError, Step<T, A>>,
    opts: { retries?: number } = {},
  ): Promise<Either<ServiceError, A>> {
    const retries = opts.retries ?? 16;
    for (let attempt = 0; ; attempt++) {
      const cur = await this.get(key);
      if (E.isLeft(cur)) return cur;
      const decision = step(cur.right);
      if (E.isLeft(decision)) return decision;
      const d = decision.right;
      if ("keep" in d) return E.right(d.result);
      const w = await this.put(key, d.write, cur.right?.revision ?? 0);
      if (E.isRight(w)) return E.right(d.result);
      if (w.left.code !== ErrorCode.Conflict || attempt >= retries) return w;
      // Back off a little, jittered, so racing writers stop colliding.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
    }
  }
}
