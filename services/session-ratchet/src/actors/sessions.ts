import { IdentityKeyPair } from "@signalapp/libsignal-client";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import { ActorSystem, ErrorCode, serviceError } from "@interlink/actor";
import type { DeviceAddress } from "@interlink/client";
import type { SessionScope } from "@interlink/crypto";
import { ab, newScope } from "@interlink/crypto";
import type { DeviceSecrets } from "../records.js";
import type { RatchetStore } from "../store.js";

/** What a session step returns: its result, and whether the changed session may be saved. */
export interface SessionStep<A> {
  readonly result: A;
  readonly commit: boolean;
}

/**
 * One writer per Signal session. In this process an actor per (local device, remote device) runs
 * steps one at a time (libsignal does no locking: concurrent encrypts fork the ratchet); across
 * processes the session record is written with compare-and-swap, and a step that lost the race
 * runs again on the fresh record before anything it produced is used.
 */
export class Sessions {
  readonly #actors: ActorSystem<never>;
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
    const key = `${dev.user}/${dev.device}>${remote.provider}/${remote.user}/${remote.device}`;
    return this.#actors.ask(key, async () => {
      for (let attempt = 0; attempt < 32; attempt++) {
        // Another instance wrote this session meanwhile: back off a little, jittered, and redo
        // the step on the fresh record (nothing it produced has been used yet).
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
        const sess = await this.store.getSession(dev, remote);
        if (E.isLeft(sess)) return sess;
        const ident = await this.store.getIdentity(dev, remote);
        if (E.isLeft(ident)) return ident;
        const scope = newScope(this.identityOf(dev), dev.registrationId, sess.right?.bytes ?? null, ident.right?.bytes ?? null);
        const r = await step(scope);
        if (E.isLeft(r)) return r;
        if (!r.right.commit) return E.right(r.right.result);
        if (scope.identityChanged && scope.remoteIdentity !== null) {
          const w = await this.store.putIdentity(dev, remote, scope.remoteIdentity.serialize(), ident.right?.revision ?? 0);
          if (E.isLeft(w) && w.left.code !== ErrorCode.Conflict) return w;
        }
        if (scope.sessionChanged && scope.session !== null) {
          const w = await this.store.putSession(dev, remote, scope.session.serialize(), sess.right?.revision ?? 0);
          if (E.isLeft(w)) {
            if (w.left.code === ErrorCode.Conflict) continue;
            return w;
          }
        }
        if (scope.identityReplaced && scope.remoteIdentity !== null) this.#onIdentityReplaced?.(dev, remote, scope.remoteIdentity.serialize());
        return E.right(r.right.result);
      }
      return E.left(serviceError(ErrorCode.Conflict, "session kept changing under concurrent writers", { retryable: true }));
    });
  }

  forget(dev: DeviceSecrets, remote: DeviceAddress): Promise<Either<ServiceError, void>> {
    return this.store.deleteSession(dev, remote);
  }

  close(): Promise<void> {
    return this.#actors.close();
  }
}
