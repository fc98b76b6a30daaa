import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { CasStore, ServiceError } from "@interlink/actor";
import type { PublicPreKey, SignedPublicPreKey } from "@interlink/crypto";
import type { KeyBatch } from "./records.js";

export interface Material {
  readonly ec: ReadonlyMap<number, PublicPreKey>;
  readonly kyber: ReadonlyMap<number, SignedPublicPreKey>;
}

/**
 * Decoded one-time key batches, least recently used dropped first. A batch entry is written once
 * under a random id and never changed, so a cached copy is always right, across instances too;
 * which of its keys are still unclaimed is decided by the device entry, never by this cache.
 */
export class MaterialCache {
  readonly #store: CasStore<KeyBatch>;
  readonly #max: number;
  readonly #cache = new Map<string, Material>();
  readonly #loading = new Map<string, Promise<Either<ServiceError, Material | null>>>();

  constructor(store: CasStore<KeyBatch>, max: number) {
    this.#store = store;
    this.#max = Math.max(1, max);
  }

  /** Right(null) when the batch entry does not exist (lost data): the caller drops the reference. */
  get(key: string): Promise<Either<ServiceError, Material | null>> {
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      this.#cache.delete(key);
      this.#cache.set(key, hit);
      return Promise.resolve(E.right(hit));
    }
    const pending = this.#loading.get(key);
    if (pending !== undefined) return pending;
    const p = this.#load(key).finally(() => this.#loading.delete(key));
    this.#loading.set(key, p);
    return p;
  }

  async #load(key: string): Promise<Either<ServiceError, Material | null>> {
    const got = await this.#store.get(key);
    if (E.isLeft(got)) return got;
    if (got.right === null) return E.right(null);
    const m: Material = {
      ec: new Map(got.right.value.ec.map((k) => [k.id, k])),
      kyber: new Map(got.right.value.kyber.map((k) => [k.id, k])),
    };
    this.#cache.set(key, m);
    if (this.#cache.size > this.#max) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    return E.right(m);
  }

  forget(key: string): void {
    this.#cache.delete(key);
  }
}
