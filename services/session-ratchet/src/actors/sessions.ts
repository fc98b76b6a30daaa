import { IdentityKeyPair } from "@signalapp/libsignal-client";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import { ActorSystem, ErrorCode, serviceError } from "@interlink/actor";
import type { DeviceAddress } from "@interlink/client";
import type { SessionScope } from "@interlink/crypto";
import { ab, newScope } from "@interlink/crypto";
import type { DeviceSecrets } from "../records.js";
import type { Sealed } from "../sealed-kv.js";
import type { RatchetStore } from "../store.js";

interface Cached {
  readonly session: Sealed | null;
  readonly identity: Sealed | null;
}

const sessionKey = (dev: DeviceSecrets, remote: DeviceAddress): string =>
  `${dev.user}/${dev.device}>${remote.provider}/${remote.user}/${remote.device}`;

/** What a session step returns: its result, and whether the changed session may be saved. */
export interface SessionStep<A> {
  readonly result: A;
  readonly commit: boolean;
  /**
   * The step failed in a way a newer session record might not (another instance moved the
   * ratchet on): when it ran on the actor's cached record, reload from the store and run again.
   */
  readonly retryFresh?: boolean;
}

/**
 * One writer per Signal session. In this process an actor per (local device, remote device) runs
 * steps one at a time (libsignal does no locking: concurrent encrypts fork the ratchet); across
 * processes the session record is written with compare-and-swap, and a step that lost the race
 * runs again on the fresh record before anything it produced is used.
 */
export class Sessions {
  readonly #actors: ActorSystem<Cached>;
  readonly #identities = new Map<string, IdentityKeyPair>();
  readonly #onIdentityReplaced: ((dev: DeviceSecrets, remote: DeviceAddress, key: Uint8Array) => void) | undefined;

  constructor(
    private readonly store: RatchetStore,
    opts: { capacity?: number; idleMs?: number; onIdentityReplaced?: (dev: DeviceSecrets, remote: DeviceAddress, key: Uint8Array) => void } = {},
  ) {
    this.#onIdentityReplaced = opts.onIdentityReplaced;
    this.#actors = new ActorSystem({ capacity: opts.capacity ?? 256, idleMs: opts.idleMs ?? 60_000 });
  }

  identityOf(dev: DeviceSecrets): IdentityKeyPair {
    const k = `${dev.user}/${dev.device}/${dev.registrationId}`;
    let id = this.#identities.get(k);
    if (id === undefined) {
      id = IdentityKeyPair.deserialize(ab(dev.identity));
      if (this.#identities.size > 10_000) this.#identities.clear();
      this.#identities.set(k, id);
    }
    return id;
  }

  run<A>(
    dev: DeviceSecrets,
    remote: DeviceAddress,
    step: (scope: SessionScope) => Promise<Either<ServiceError, SessionStep<A>>>,
  ): Promise<Either<ServiceError, A>> {
    return this.#actors.ask(sessionKey(dev, remote), async (cell) => {
      for (let attempt = 0; attempt < 32; attempt++) {
        // Another instance wrote this session meanwhile: back off a little, jittered, and redo
        // the step on the fresh record (nothing it produced has been used yet).
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
        // The actor keeps what it last read or wrote, with its KV revision: a write at a stale
        // revision fails its compare-and-swap, so the cache only saves reads, never correctness.
        const fromCache = cell.state !== undefined;
        if (cell.state === undefined) {
          const sess = await this.store.getSession(dev, remote);
          if (E.isLeft(sess)) return sess;
          const ident = await this.store.getIdentity(dev, remote);
          if (E.isLeft(ident)) return ident;
          cell.state = { session: sess.right, identity: ident.right };
        }
        const cached = cell.state;
        const scope = newScope(this.identityOf(dev), dev.registrationId, cached.session?.bytes ?? null, cached.identity?.bytes ?? null);
        const r = await step(scope);
        if (E.isLeft(r)) return r;
        if (r.right.retryFresh === true && fromCache) {
          cell.state = undefined;
          continue;
        }
        if (!r.right.commit) return E.right(r.right.result);
        let identity = cached.identity;
        if (scope.identityChanged && scope.remoteIdentity !== null) {
          const bytes = scope.remoteIdentity.serialize();
          const w = await this.store.putIdentity(dev, remote, bytes, cached.identity?.revision ?? 0);
          if (E.isLeft(w)) {
            cell.state = undefined;
            if (w.left.code === ErrorCode.Conflict) continue;
            return w;
          }
          identity = { bytes, revision: w.right };
        }
        let session = cached.session;
        if (scope.sessionChanged && scope.session !== null) {
          const bytes = scope.session.serialize();
          const w = await this.store.putSession(dev, remote, bytes, cached.session?.revision ?? 0);
          if (E.isLeft(w)) {
            cell.state = undefined;
            if (w.left.code === ErrorCode.Conflict) continue;
            return w;
          }
          session = { bytes, revision: w.right };
        }
        cell.state = { session, identity };
        if (scope.identityReplaced && scope.remoteIdentity !== null) this.#onIdentityReplaced?.(dev, remote, scope.remoteIdentity.serialize());
        return E.right(r.right.result);
      }
      return E.left(serviceError(ErrorCode.Conflict, "session kept changing under concurrent writers", { retryable: true }));
    });
  }

  /** Drops a session (its remote device is gone), through its actor so the cache goes too. */
  forget(dev: DeviceSecrets, remote: DeviceAddress): Promise<Either<ServiceError, void>> {
    return this.#actors.ask(sessionKey(dev, remote), async (cell) => {
      cell.state = undefined;
      return this.store.deleteSession(dev, remote);
    });
  }

  close(): Promise<void> {
    return this.#actors.close();
  }
}
