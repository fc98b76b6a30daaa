import type { NatsConnection } from "@nats-io/transport-node";
import type { CallOptions, ServiceError } from "@interlink/actor";
import { Requester } from "@interlink/actor";
import type { RequesterOptions } from "@interlink/actor";
import type { ProviderId, Service } from "@interlink/subjects";
import { Service as Svc, inboxPrefix, requestSubject } from "@interlink/subjects";
import type { Schema } from "@interlink/wire";
import type { Either } from "fp-ts/lib/Either.js";
import type { UserAddress } from "./protocol/common.js";
import * as D from "./protocol/delivery.js";
import * as K from "./protocol/keys.js";
import * as M from "./protocol/media.js";
import * as R from "./protocol/receipt.js";
import * as X from "./protocol/ratchet.js";

type Res<T> = Promise<Either<ServiceError, T>>;

/** Omit the record version: clients stamp it. */
type Body<T> = Omit<T, "v">;

/**
 * Typed calls to every Interlink service on behalf of one provider. The provider is only ever
 * put in the subject; the hub takes it from there (and account permissions pin it).
 */
export class InterlinkClient {
  readonly provider: ProviderId;
  readonly requester: Requester;

  constructor(nc: NatsConnection, provider: ProviderId, opts: RequesterOptions = {}) {
    this.provider = provider;
    this.requester = new Requester(nc, { inboxPrefix: inboxPrefix(provider), ...opts });
  }

  #call<T>(service: Service, op: string, body: object, schema: Schema<T>, opts?: CallOptions): Res<T> {
    return this.requester.call(requestSubject(service, op, this.provider), { v: 1, ...body }, schema, opts);
  }

  readonly keys = {
    upload: (b: Body<K.UploadRequest>) => this.#call(Svc.Keys, "upload", b, K.KeyCountsS),
    devices: (a: UserAddress) => this.#call(Svc.Keys, "devices", a, K.DevicesResponseS),
    claim: (b: Body<K.ClaimRequest>) => this.#call(Svc.Keys, "claim", b, K.ClaimResponseS),
    rotate: (b: Body<K.RotateRequest>) => this.#call(Svc.Keys, "rotate", b, K.KeyCountsS),
    count: (b: Body<K.CountRequest>) => this.#call(Svc.Keys, "count", b, K.KeyCountsS),
    remove: (b: Body<K.RemoveRequest>) => this.#call(Svc.Keys, "remove", b, K.DevicesResponseS),
  };

  readonly delivery = {
    /** Names the envelope's end-to-end protocol; the SDK's own (the session-ratchet's) unless given. */
    send: (b: Body<D.SendRequest>) => this.#call(Svc.Delivery, "send", { protocol: D.SIGNAL_PQXDH_V1, ...b }, D.SendResponseS),
    /** Signal messages only (hub receipt messages are left queued for a puller that takes them). */
    pull: (b: Omit<Body<D.PullRequest>, "receipts">) => this.#call(Svc.Delivery, "pull", b, D.PullResponseS),
    /** Signal messages and the hub's receipt messages, in queue order (what session-ratchet uses). */
    pullAll: (b: Omit<Body<D.PullRequest>, "receipts">) => this.#call(Svc.Delivery, "pull", { ...b, receipts: true }, D.PullAllResponseS),
    ack: (b: Body<D.AckRequest>) => this.#call(Svc.Delivery, "ack", b, D.AckResponseS),
  };

  readonly media = {
    begin: (b: Body<M.BeginUpload>) => this.#call(Svc.Media, "begin", b, M.BeginUploadResponseS),
    chunk: (b: Body<M.UploadChunk>) => this.#call(Svc.Media, "chunk", b, M.UploadChunkResponseS, { timeoutMs: 15_000 }),
    commit: (uploadId: string) => this.#call(Svc.Media, "commit", { uploadId }, M.CommitUploadResponseS, { timeoutMs: 30_000 }),
    download: (b: Body<M.Download>) => this.#call(Svc.Media, "download", b, M.DownloadResponseS, { timeoutMs: 15_000 }),
    /** Deletes a committed blob; only the uploading provider, with the commit's delete token. */
    delete: (b: Body<M.DeleteMedia>) => this.#call(Svc.Media, "delete", b, M.DeleteMediaResponseS),
  };

  readonly receipt = {
    status: (b: Body<R.StatusRequest>) => this.#call(Svc.Receipt, "status", b, R.StatusResponseS),
  };

  /** The provider's own edge service; these calls carry plaintext and stay on the provider's NATS. */
  readonly ratchet = {
    register: (b: Body<X.RegisterRequest>) => this.#call(Svc.Ratchet, "register", b, X.RegisterResponseS, { timeoutMs: 30_000 }),
    send: (b: Body<X.SendContent>) => this.#call(Svc.Ratchet, "send", b, X.SendContentResponseS, { timeoutMs: 15_000 }),
    safetyNumber: (b: Body<X.SafetyNumberRequest>) => this.#call(Svc.Ratchet, "safety", b, X.SafetyNumberResponseS),
    /** Read-receipt setting of one of the provider's users (without `readReceipts`: just read it). */
    settings: (b: Body<X.ReceiptSettings>) => this.#call(Svc.Ratchet, "settings", b, X.ReceiptSettingsResponseS),
    /** Delivered, read and played per recipient device of one message a user sent. */
    status: (b: Body<X.MessageStatusRequest>) => this.#call(Svc.Ratchet, "status", b, X.MessageStatusResponseS),
  };

  ping(service: Service, opts?: CallOptions): Res<unknown> {
    return this.requester.callRaw(requestSubject(service, "ping", this.provider), new Uint8Array([0xc0]), opts);
  }

  close(): void {
    this.requester.close();
  }
}
