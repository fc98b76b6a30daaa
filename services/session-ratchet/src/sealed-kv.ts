import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { FastKv, ServiceError } from "@interlink/actor";
import { ErrorCode, JsErr, StoreError, serviceError } from "@interlink/actor";

export interface Sealed {
  readonly bytes: Uint8Array;
  readonly revision: number;
}

const NONCE = 12;
const TAG = 16;

const isConflict = (err: unknown): boolean => err instanceof StoreError && err.kind === "api" && err.errCode === JsErr.WrongLastSequence;

const conflict = (): ServiceError => serviceError(ErrorCode.Conflict, "state changed concurrently", { retryable: true });
const unavailable = (): ServiceError => serviceError(ErrorCode.Unavailable, "ratchet store unavailable", { retryable: true, retryAfterMs: 200 });

/**
 * A KV bucket whose values are sealed with AES-256-GCM under the service's at-rest key. The entry
 * key is the associated data, so a value copied to another key does not open. Writes are
 * compare-and-swap on the KV revision (0: create only).
 */
export class SealedKv {
  /** A key that was deleted keeps a delete marker; creating it again must name that revision. */
  readonly #deletedAt = new Map<string, number>();

  constructor(
    /** For listing keys only (rare); reads and writes go through `fast`. */
    private readonly kv: KV,
    private readonly fast: FastKv,
    private readonly key: Uint8Array,
  ) {
    if (key.length !== 32) throw new Error("at-rest key must be 32 bytes");
  }

  #seal(name: string, plain: Uint8Array): Uint8Array {
    const nonce = randomBytes(NONCE);
    const c = createCipheriv("aes-256-gcm", this.key, nonce);
    c.setAAD(Buffer.from(name));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([nonce, body, c.getAuthTag()]);
  }

  #open(name: string, sealed: Uint8Array): Uint8Array | null {
    if (sealed.length < NONCE + TAG) return null;
    try {
      const d = createDecipheriv("aes-256-gcm", this.key, sealed.subarray(0, NONCE));
      d.setAAD(Buffer.from(name));
      d.setAuthTag(sealed.subarray(sealed.length - TAG));
      return Buffer.concat([d.update(sealed.subarray(NONCE, sealed.length - TAG)), d.final()]);
    } catch {
      return null;
    }
  }

  async get(name: string): Promise<Either<ServiceError, Sealed | null>> {
    try {
      const e = await this.fast.get(name);
      if (e === null) return E.right(null);
      if (e.deleted) {
        this.#deletedAt.set(name, e.revision);
        return E.right(null);
      }
      const bytes = this.#open(name, e.value);
      if (bytes === null) return E.left(serviceError(ErrorCode.Internal, "stored state does not open with the at-rest key"));
      return E.right({ bytes, revision: e.revision });
    } catch {
      return E.left(unavailable());
    }
  }

  async put(name: string, plain: Uint8Array, revision: number): Promise<Either<ServiceError, number>> {
    const sealed = this.#seal(name, plain);
    try {
      const rev = await this.fast.put(name, sealed, revision === 0 ? (this.#deletedAt.get(name) ?? 0) : revision);
      this.#deletedAt.delete(name);
      return E.right(rev);
    } catch (err) {
      if (isConflict(err) && revision === 0) {
        // Maybe a delete marker we have not read: creating over it is still a create.
        const cur = await this.fast.get(name).catch(() => null);
        if (cur?.deleted === true) {
          this.#deletedAt.set(name, cur.revision);
          return this.put(name, plain, 0);
        }
      }
      return E.left(isConflict(err) ? conflict() : unavailable());
    }
  }

  async delete(name: string): Promise<Either<ServiceError, void>> {
    try {
      await this.fast.delete(name);
      return E.right(undefined);
    } catch {
      return E.left(unavailable());
    }
  }

  /** Stops the store's own JetStream requester (the connection stays open). */
  close(): void {
    this.fast.close();
  }

  async keys(filter: string): Promise<Either<ServiceError, string[]>> {
    try {
      const out: string[] = [];
      for await (const k of await this.kv.keys(filter)) out.push(k);
      return E.right(out);
    } catch {
      return E.left(unavailable());
    }
  }
}
