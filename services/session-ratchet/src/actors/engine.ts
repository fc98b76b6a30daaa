import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import { ErrorCode, serviceError } from "@interlink/actor";
import type { DeviceAddress, InterlinkClient, QueuedMessage } from "@interlink/client";
import { signalName } from "@interlink/client";
import { CryptoErrorCode, MessageType, decrypt, encrypt, hasSession, protocolAddress, startSession } from "@interlink/crypto";
import type { ProviderId } from "@interlink/subjects";
import type { DeviceSecrets } from "../records.js";
import type { RatchetStore } from "../store.js";
import type { Sessions } from "./sessions.js";

export interface Encrypted {
  readonly registrationId: number;
  readonly type: number;
  readonly body: Uint8Array;
}

/** What the receiver does with a decrypted plaintext before the session may move on. */
export type Deliver = (plaintext: Uint8Array) => Promise<Either<ServiceError, void>>;

/** Right(undefined): delivered. Right(code): not decryptable (the caller reports it). Left: retry later. */
export type Decrypted = Either<ServiceError, string | undefined>;

/**
 * The libsignal work of the edge: one encrypt or one decrypt on one session. Implemented in
 * process (`LocalEngine`) and on a pool of worker threads with sessions pinned by hash.
 */
export interface SessionEngine {
  /** `fresh`: ignore the stored session and start again from a newly claimed bundle. */
  encrypt(dev: DeviceSecrets, remote: DeviceAddress, plaintext: Uint8Array, fresh: boolean): Promise<Either<ServiceError, Encrypted>>;
  /** Decrypts, hands the plaintext to `deliver`, and saves the session only if that succeeded. */
  decrypt(dev: DeviceSecrets, m: QueuedMessage, deliver: Deliver): Promise<Decrypted>;
  forget(dev: DeviceSecrets, remote: DeviceAddress): Promise<Either<ServiceError, void>>;
  close(): Promise<void>;
}

export class LocalEngine implements SessionEngine {
  constructor(
    private readonly provider: ProviderId,
    private readonly client: InterlinkClient,
    private readonly store: RatchetStore,
    private readonly sessions: Sessions,
    private readonly now: () => number = Date.now,
  ) {}

  encrypt(dev: DeviceSecrets, remote: DeviceAddress, plaintext: Uint8Array, fresh: boolean): Promise<Either<ServiceError, Encrypted>> {
    const local = protocolAddress(signalName({ provider: this.provider, user: dev.user }), dev.device);
    const raddr = protocolAddress(signalName(remote), remote.device);
    return this.sessions.run(dev, remote, async (scope) => {
      const now = new Date(this.now());
      if (fresh || !hasSession(scope, now)) {
        const claimed = await this.client.keys.claim({ provider: remote.provider, user: remote.user, devices: [remote.device] });
        if (E.isLeft(claimed)) return claimed;
        const bundle = claimed.right.bundles[0];
        if (bundle === undefined) return E.left(serviceError(ErrorCode.NotFound, "no key bundle for a recipient device"));
        scope.session = null;
        const started = await startSession(scope, bundle, raddr, local, now);
        if (E.isLeft(started)) return E.left(serviceError(started.left.code, started.left.message));
      }
      const c = await encrypt(scope, plaintext, raddr, local, now);
      if (E.isLeft(c)) return E.left(serviceError(c.left.code, c.left.message));
      return E.right({ result: { registrationId: scope.session!.remoteRegistrationId(), type: c.right.type, body: c.right.body }, commit: true });
    });
  }

  async decrypt(dev: DeviceSecrets, m: QueuedMessage, deliver: Deliver): Promise<Decrypted> {
    const local = protocolAddress(signalName({ provider: this.provider, user: dev.user }), dev.device);
    const remote = protocolAddress(signalName(m.from), m.from.device);
    const keys = this.store.preKeySource(dev);
    // A step can run again when another writer saved the session meanwhile (CAS conflict). Once
    // the app has the plaintext it must not get it again: a re-run only decrypts to commit, and
    // if the other writer already decrypted this message, it is done.
    let delivered = false;
    return this.sessions.run<string | undefined>(dev, m.from, async (scope) => {
      const type = m.type === MessageType.PreKey ? MessageType.PreKey : MessageType.Whisper;
      const plain = await decrypt(scope, { type, body: m.body }, remote, local, keys.source);
      if (E.isLeft(plain)) {
        // A store failure while looking up prekeys is not the message's fault: retry later.
        if (keys.failed()) return E.left(serviceError(ErrorCode.Unavailable, "prekey store unavailable", { retryable: true }));
        if (delivered && plain.left.code === CryptoErrorCode.DuplicatedMessage) return E.right({ result: undefined, commit: false });
        return E.right({ result: plain.left.code, commit: false, retryFresh: !delivered });
      }
      if (!delivered) {
        const r = await deliver(plain.right);
        if (E.isLeft(r)) {
          // Content that does not decode is consumed (the session moved on) and reported.
          if (r.left.code === "bad_content") return E.right({ result: "bad_content", commit: true });
          return r;
        }
        delivered = true;
      }
      const committed = await keys.commit();
      if (E.isLeft(committed)) return committed;
      return E.right({ result: undefined, commit: true });
    });
  }

  forget(dev: DeviceSecrets, remote: DeviceAddress): Promise<Either<ServiceError, void>> {
    return this.sessions.forget(dev, remote);
  }

  close(): Promise<void> {
    return this.sessions.close();
  }
}
