import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import { ErrorCode, serviceError } from "@interlink/actor";

export interface Sealed {
  readonly bytes: Uint8Array;
  readonly revision: number;
}

const NONCE = 12;
const TAG = 16;

const isConflict = (err: unknown): boolean =>
  err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

const conflict = (): ServiceError => serviceError(ErrorCode.Conflict, "state changed concurrently", { retryable: true });
const unavailable = (): ServiceError => serviceError(ErrorCode.Unavailable, "ratchet store unavailable", { retryable: true, retryAfterMs: 200 });

/**
 * A KV bucket whose values are sealed with AES-256-GCM under the service's at-rest key. The entry
 * key is the associated data, so a value copied to another key does not open. Writes are
 * compare-and-swap on the KV revision (0: create only).
 */
export class SealedKv {
  constructor(
    private readonly kv: KV,
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
      const e = await this.kv.get(name);
      if (e === null || e.operation !== "PUT") return E.right(null);
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
      return E.right(revision === 0 ? await this.kv.create(name, sealed) : await this.kv.update(name, sealed, revision));
    } catch (err) {
      return E.left(isConflict(err) ? conflict() : unavailable());
    }
  }

  async delete(name: string): Promise<Either<ServiceError, void>> {
    try {
      await this.kv.delete(name);
      return E.right(undefined);
    } catch {
      return E.left(unavailable());
    }
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
