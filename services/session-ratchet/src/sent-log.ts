import { Kvm } from "@nats-io/kv";
import { SealedKv } from "./sealed-kv.js";
import type { KV, KvOptions } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { ServiceError } from "@interlink/actor";
import { ErrorCode, FastJs, FastKv, serviceError } from "@interlink/actor";
import type { DeviceAddress, ReceiptStatus, UserAddress } from "@interlink/client";
import { DeviceIdS, UserAddressS } from "@interlink/client";
import type { ProviderId } from "@interlink/subjects";
import { opaqueToken } from "@interlink/subjects";
import type { Codec, Infer } from "@interlink/wire";
import { createCodec, decodeWith, record, s } from "@interlink/wire";


const bucketName = (kind: string, provider: ProviderId): string => `ilk_ratchet_${kind}_${provider.replace(/-/g, "_")}`;
/** What this edge's users sent, for checking receipts (entries expire: the bucket's max age). */
export const sentLogBucket = (provider: ProviderId): string => bucketName("sent", provider);
/** Per-user receipt settings (kept until changed). */
export const receiptPrefsBucket = (provider: ProviderId): string => bucketName("prefs", provider);

/** A status end to end from one recipient device. At most read and played (and delivered) per device. */
const StatusEntryS = s.object({ status: s.oneOf(["delivered", "read", "played"] as const), device: DeviceIdS, at: s.int({ min: 0 }) });
export type StatusEntry = Infer<typeof StatusEntryS>;

/** One message a local user sent: to whom, and the end-to-end receipts it got back. */
export const SentEntryS = record("ratchet.sent", 1, {
  to: UserAddressS,
  sentAt: s.int({ min: 0 }),
  statuses: s.array(StatusEntryS, { max: 3 * 127 }),
});
export type SentEntry = Infer<typeof SentEntryS>;

const PrefsS = record("ratchet.prefs", 1, { readReceipts: s.bool() });

/** How a receipt for one target fared against the sent log. */
export type Checked = "recorded" | "known" | "forged";

const CAS_ATTEMPTS = 8;

const openBucket = async (nc: NatsConnection, name: string, opts: Partial<KvOptions>): Promise<KV> => {
  const kvm = new Kvm(nc);
  try {
    return await kvm.create(name, opts);
  } catch {
    // Created by another instance with other settings (another TTL): use it as it is.
    return kvm.open(name);
  }
};

const unreadable = (): ServiceError => serviceError(ErrorCode.Internal, "sent log entry unreadable");

/**
 * The edge's record of what its users sent, so that a read or played receipt (end-to-end
 * content, which the hub never sees) is believed only from someone the message went to.
 * Entry names are keyed tokens of (user, message id); values are sealed with the at-rest key
 * (the entry name is the associated data); entries expire with the bucket's max age.
 */
export class SentLog {
  readonly #kv: SealedKv;
  readonly #secret: Uint8Array;
  readonly #codec: Codec = createCodec();

  private constructor(kv: SealedKv, secret: Uint8Array) {
    this.#kv = kv;
    this.#secret = secret;
  }

  close(): void {
    this.#kv.close();
  }

  static async open(nc: NatsConnection, provider: ProviderId, secret: Uint8Array, atRestKey: Uint8Array, replicas: number, ttlMs: number): Promise<SentLog> {
    const name = sentLogBucket(provider);
    const kv = await openBucket(nc, name, { replicas, history: 1, ttl: ttlMs, allow_direct: true });
    return new SentLog(new SealedKv(kv, new FastKv(new FastJs(nc), name), atRestKey), secret);
  }

  #name(user: string, id: string): string {
    return `m.${opaqueToken(this.#secret, "sent", user, id)}`;
  }

  async #read(name: string): Promise<Either<ServiceError, { entry: SentEntry; revision: number } | null>> {
    const r = await this.#kv.get(name);
    if (E.isLeft(r) || r.right === null) return r as Either<ServiceError, null>;
    const v = decodeWith(this.#codec, SentEntryS, r.right.bytes);
    return E.isLeft(v) ? E.left(unreadable()) : E.right({ entry: v.right, revision: r.right.revision });
  }

  /**
   * Written before the message goes to delivery, so a receipt can never arrive before it. A
   * retried send of the same id to the same recipient finds it and is fine; the same id to
   * someone else keeps the first recipient (delivery refuses the reuse anyway).
   */
  async logSent(user: string, id: string, to: UserAddress, sentAt: number): Promise<Either<ServiceError, void>> {
    const name = this.#name(user, id);
    const entry: SentEntry = { v: 1, to: { provider: to.provider, user: to.user }, sentAt, statuses: [] };
    const w = await this.#kv.put(name, this.#codec.encode(entry), 0);
    if (E.isRight(w)) return E.right(undefined);
    if (w.left.code !== ErrorCode.Conflict) return w;
    const cur = await this.#read(name);
    return E.isLeft(cur) ? cur : E.right(undefined);
  }

  lookup(user: string, id: string): Promise<Either<ServiceError, SentEntry | null>> {
    return this.#read(this.#name(user, id)).then(E.map((r) => r?.entry ?? null));
  }

  /**
   * A receipt from `from` for message `id` of `user`: forged unless the message is in the log and
   * went to `from`'s user. With `keep`, a genuine status is added (once per device and status).
   */
  async check(user: string, id: string, from: DeviceAddress, status: ReceiptStatus, at: number, keep: boolean): Promise<Either<ServiceError, Checked>> {
    const name = this.#name(user, id);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const cur = await this.#read(name);
      if (E.isLeft(cur)) return cur;
      if (cur.right === null) return E.right("forged");
      const { entry, revision } = cur.right;
      if (entry.to.provider !== from.provider || entry.to.user !== from.user) return E.right("forged");
      if (!keep || entry.statuses.some((x) => x.device === from.device && x.status === status)) return E.right("known");
      const next: SentEntry = { ...entry, statuses: [...entry.statuses, { status, device: from.device, at }].slice(-3 * 127) };
      const w = await this.#kv.put(name, this.#codec.encode(next), revision);
      if (E.isRight(w)) return E.right("recorded");
      if (w.left.code !== ErrorCode.Conflict) return w;
    }
    return E.left(serviceError(ErrorCode.Conflict, "sent log entry kept changing", { retryable: true }));
  }
}

/** Per-user receipt settings of this edge's users: sealed, keyed names, no expiry. */
export class ReceiptPrefs {
  readonly #kv: SealedKv;
  readonly #secret: Uint8Array;
  readonly #codec: Codec = createCodec();

  private constructor(kv: SealedKv, secret: Uint8Array) {
    this.#kv = kv;
    this.#secret = secret;
  }

  close(): void {
    this.#kv.close();
  }

  static async open(nc: NatsConnection, provider: ProviderId, secret: Uint8Array, atRestKey: Uint8Array, replicas: number): Promise<ReceiptPrefs> {
    const name = receiptPrefsBucket(provider);
    const kv = await openBucket(nc, name, { replicas, history: 1, allow_direct: true });
    return new ReceiptPrefs(new SealedKv(kv, new FastKv(new FastJs(nc), name), atRestKey), secret);
  }

  #name(user: string): string {
    return `u.${opaqueToken(this.#secret, "prefs", user)}`;
  }

  /** Read receipts are on unless the user turned them off. */
  async readReceipts(user: string): Promise<Either<ServiceError, boolean>> {
    const r = await this.#kv.get(this.#name(user));
    if (E.isLeft(r)) return r;
    if (r.right === null) return E.right(true);
    const v = decodeWith(this.#codec, PrefsS, r.right.bytes);
    return E.isLeft(v) ? E.left(serviceError(ErrorCode.Internal, "settings unreadable")) : E.right(v.right.readReceipts);
  }

  async setReadReceipts(user: string, on: boolean): Promise<Either<ServiceError, boolean>> {
    const name = this.#name(user);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const cur = await this.#kv.get(name);
      if (E.isLeft(cur)) return cur;
      const w = await this.#kv.put(name, this.#codec.encode({ v: 1, readReceipts: on }), cur.right?.revision ?? 0);
      if (E.isRight(w)) return E.right(on);
      if (w.left.code !== ErrorCode.Conflict) return w;
    }
    return E.left(serviceError(ErrorCode.Conflict, "settings kept changing", { retryable: true }));
  }
}
