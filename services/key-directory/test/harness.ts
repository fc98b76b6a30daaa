import { randomBytes } from "node:crypto";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Clock, Logger, ServiceError } from "@interlink/actor";
import { createLogger } from "@interlink/actor";
import type { UploadRequest } from "@interlink/client";
import type { DeviceUpload } from "@interlink/crypto";
import { generateDevice, generateIdentity, generateKyberPreKeys, generatePreKeys, generateSignedPreKey, newRegistrationId } from "@interlink/crypto";
import type { DeviceId, ProviderId, UserId } from "@interlink/subjects";
import { Service, eventSubject } from "@interlink/subjects";
import type { Schema } from "@interlink/wire";
import { createCodec, decodeWith } from "@interlink/wire";
import type { RateLimits } from "../src/index.js";

export const alpha = "alpha" as ProviderId;
export const beta = "beta" as ProviderId;
export const gamma = "gamma" as ProviderId;
export const codec = createCodec();

/** Every user id a test made, so the log check can look for each of them. */
export const usersMade: string[] = [];
export const user = (name: string): UserId => {
  const u = `${name}_${randomBytes(4).toString("hex")}`;
  usersMade.push(u);
  return u as UserId;
};
export const dev = (n: number) => n as DeviceId;

export const right = <T>(r: Either<ServiceError, T>): T => {
  if (E.isLeft(r)) throw new Error(`expected success, got ${r.left.code}: ${r.left.message}`);
  return r.right;
};
export const left = <T>(r: Either<ServiceError, T>): ServiceError => {
  if (E.isRight(r)) throw new Error(`expected an error, got ${JSON.stringify(r.right)}`);
  return r.left;
};

export type Body = Omit<UploadRequest, "v">;
export const uploadOf = (u: UserId, device: number, keys: DeviceUpload): Body => ({ user: u, device: dev(device), ...keys });

/** A fresh device's public keys, as key-directory receives them. */
export const freshDevice = (preKeys: number, kyberPreKeys: number): DeviceUpload =>
  generateDevice({ preKeys, kyberPreKeys, now: Date.now() }).upload;

/** Limits that never bite in tests about something else. */
const OPEN = { capacity: 1e6, perSecond: 1e6 };
export const OPEN_LIMITS: RateLimits = { claimsPerTarget: OPEN, claimsPerProvider: OPEN, lookupsPerProvider: OPEN, missesPerProvider: OPEN };

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  #now = 1_700_000_000_000;
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

/** A logger that keeps every line, for checking that no user id is ever logged. */
export const capturingLogger = (): { log: Logger; lines: string[] } => {
  const lines: string[] = [];
  return { log: createLogger({ level: "debug", write: (l) => void lines.push(l) }), lines };
};

/**
 * Key-directory events on some providers' subjects, decoded. Subscribe on the connection that
 * makes the request causing them: the service publishes an event before it replies, so once
 * the reply is in, so is the event.
 */
export class Events<T> {
  readonly got: Array<{ provider: ProviderId; body: T }> = [];
  readonly #subs: Subscription[];

  constructor(nc: NatsConnection, event: string, providers: readonly ProviderId[], schema: Schema<T>) {
    this.#subs = providers.map((p) =>
      nc.subscribe(eventSubject(Service.Keys, event, p), {
        callback: (_e, m) => {
          const body = decodeWith(codec, schema, m.data);
          // An undecodable event is kept as such, so the test comparing events fails on it.
          this.got.push({ provider: p, body: E.isLeft(body) ? ({ undecodable: body.left.message } as T) : body.right });
        },
      }),
    );
  }

  take(): Array<{ provider: ProviderId; body: T }> {
    return this.got.splice(0, this.got.length);
  }

  close(): void {
    for (const s of this.#subs) s.unsubscribe();
  }
}

/** A device whose identity the test holds, so it can sign refills and rotations. */
export const ownDevice = (preKeys: number, kyberPreKeys: number) => {
  const identity = generateIdentity();
  const now = Date.now();
  const upload: DeviceUpload = {
    registrationId: newRegistrationId(),
    identityKey: identity.publicKey.serialize(),
    signedPreKey: generateSignedPreKey(identity, 1, now).pub,
    kyberLastResort: generateKyberPreKeys(identity, 1, 1, now).pub[0]!,
    preKeys: generatePreKeys(1, preKeys).pub,
    kyberPreKeys: generateKyberPreKeys(identity, 2, kyberPreKeys, now).pub,
  };
  /** The same device with other one-time keys: `ec` EC keys from id `ecFrom`, `kyber` Kyber keys from `kyberFrom`. */
  const refill = (ecFrom: number, ec: number, kyberFrom: number, kyber: number): DeviceUpload => ({
    ...upload,
    preKeys: generatePreKeys(ecFrom, ec).pub,
    kyberPreKeys: generateKyberPreKeys(identity, kyberFrom, kyber, now).pub,
  });
  return { identity, upload, refill };
};
