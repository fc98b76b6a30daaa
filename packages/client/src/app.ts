import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { ServiceError } from "@interlink/actor";
import type { ProviderId, UserId, DeviceId } from "@interlink/subjects";
import { Service, requestSubject } from "@interlink/subjects";
import type { AttachmentKind, AttachmentPointer, ContentBody } from "@interlink/wire";
import { createCodec, decodeWith, errReply, okReply } from "@interlink/wire";
import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { AttachmentMeta } from "./attachments.js";
import { downloadAttachment, uploadAttachment } from "./attachments.js";
import { InterlinkClient } from "./clients.js";
import type { LocalDevice, UserAddress } from "./protocol/common.js";
import type { IdentityChange, InboundError, InboundMessage, InboundReceipts, MessageStatusResponse, SendContentResponse } from "./protocol/ratchet.js";
import { IdentityChangeS, InboundErrorS, InboundMessageS, InboundReceiptsS } from "./protocol/ratchet.js";

type Res<T> = Promise<Either<ServiceError, T>>;

/**
 * What a provider's app uses: it talks to its own session-ratchet (plaintext never leaves the
 * provider's NATS) and to media-store for attachment ciphertext.
 *
 *   const app = new ProviderApp(nc, "alpha");
 *   await app.register("alice", 1);
 *   app.onMessage(async (m) => show(m));
 *   await app.sendText({ user: "alice", device: 1 }, { provider: "beta", user: "bob" }, "hi");
 */
export class ProviderApp {
  readonly client: InterlinkClient;
  readonly #nc: NatsConnection;
  readonly #codec = createCodec();
  readonly #subs: Subscription[] = [];

  constructor(nc: NatsConnection, readonly provider: ProviderId) {
    this.#nc = nc;
    this.client = new InterlinkClient(nc, provider);
  }

  register(user: UserId, device: DeviceId): Res<{ registrationId: number; created: boolean }> {
    return this.client.ratchet.register({ user, device });
  }

  send(from: LocalDevice, to: UserAddress, content: ContentBody, id?: string): Res<SendContentResponse> {
    return this.client.ratchet.send({ from, to, content, ...(id !== undefined ? { id } : {}) });
  }

  sendText(from: LocalDevice, to: UserAddress, text: string, opts: { replyTo?: string; id?: string } = {}): Res<SendContentResponse> {
    return this.send(from, to, { t: "text", text, ...(opts.replyTo !== undefined ? { replyTo: opts.replyTo } : {}) }, opts.id);
  }

  /** Encrypts at the edge, uploads the ciphertext, then sends the pointer end to end. */
  async sendAttachment(
    from: LocalDevice,
    to: UserAddress,
    kind: AttachmentKind,
    bytes: Uint8Array,
    meta: AttachmentMeta,
    opts: { caption?: string; id?: string } = {},
  ): Res<SendContentResponse & { media: AttachmentPointer }> {
    const up = await uploadAttachment(this.client, kind, bytes, meta);
    if (E.isLeft(up)) return up;
    const sent = await this.send(from, to, { t: "attachment", kind, media: up.right, ...(opts.caption !== undefined ? { caption: opts.caption } : {}) }, opts.id);
    return E.map((r: SendContentResponse) => ({ ...r, media: up.right }))(sent);
  }

  react(from: LocalDevice, to: UserAddress, target: string, emoji: string, remove = false): Res<SendContentResponse> {
    return this.send(from, to, { t: "reaction", target, emoji, ...(remove ? { remove } : {}) });
  }

  edit(from: LocalDevice, to: UserAddress, target: string, text: string): Res<SendContentResponse> {
    return this.send(from, to, { t: "edit", target, text });
  }

  remove(from: LocalDevice, to: UserAddress, target: string): Res<SendContentResponse> {
    return this.send(from, to, { t: "delete", target });
  }

  /**
   * Read (or played) receipts are end-to-end-encrypted content sent back to the original sender
   * (the hub never learns them). With read receipts off for `from.user` the ratchet sends nothing
   * and answers `devices: 0`.
   */
  markRead(from: LocalDevice, sender: UserAddress, ids: readonly string[], status: "read" | "played" = "read"): Res<SendContentResponse> {
    return this.send(from, sender, { t: "receipt", status, targets: [...ids] });
  }

  /** A voice message or video was played: a "played" receipt, end to end (not affected by the read-receipt setting). */
  markPlayed(from: LocalDevice, sender: UserAddress, ids: readonly string[]): Res<SendContentResponse> {
    return this.markRead(from, sender, ids, "played");
  }

  /**
   * Read receipts on or off for one of this provider's users. Off: `markRead` sends nothing and
   * contacts' read receipts are not shown (neither in `onReceipts` nor in `receiptStatus`).
   */
  setReadReceipts(user: UserId, on: boolean): Res<boolean> {
    return this.client.ratchet.settings({ user, readReceipts: on }).then(E.map((r) => r.readReceipts));
  }

  readReceipts(user: UserId): Res<boolean> {
    return this.client.ratchet.settings({ user }).then(E.map((r) => r.readReceipts));
  }

  /** Per recipient device: delivered (from the hub), read and played (end to end) for a message `user` sent. */
  receiptStatus(user: UserId, id: string): Res<MessageStatusResponse> {
    return this.client.ratchet.status({ user, id });
  }

  download(p: AttachmentPointer): Res<Uint8Array> {
    return downloadAttachment(this.client, p);
  }

  /**
   * Decrypted messages for this provider's devices. The ratchet keeps a message queued until the
   * handler resolves; a handler that throws makes it come again later.
   */
  onMessage(handler: (m: InboundMessage) => void | Promise<void>): void {
    this.#serveReceipts();
    this.#serve(requestSubject(Service.Ratchet, "message", this.provider), (bytes) => {
      const m = decodeWith(this.#codec, InboundMessageS, bytes);
      return E.isLeft(m) ? Promise.reject(new Error("undecodable message")) : Promise.resolve(handler(m.right));
    });
  }

  /** Messages that could not be decrypted (corrupt, unknown session, untrusted identity). */
  onError(handler: (e: InboundError) => void | Promise<void>): void {
    this.#serve(requestSubject(Service.Ratchet, "error", this.provider), (bytes) => {
      const m = decodeWith(this.#codec, InboundErrorS, bytes);
      return E.isLeft(m) ? Promise.reject(new Error("undecodable error event")) : Promise.resolve(handler(m.right));
    });
  }

  /** The safety number of a conversation, to compare out of band; null before any session. */
  safetyNumber(local: LocalDevice, remote: UserAddress): Res<string | null> {
    return this.client.ratchet.safetyNumber({ local, remote }).then(E.map((r) => r.safetyNumber));
  }

  /** A contact's identity key changed: show "safety number changed" with the new number. */
  onIdentityChange(handler: (c: IdentityChange) => void): void {
    this.#subs.push(
      this.#nc.subscribe(requestSubject(Service.Ratchet, "identity", this.provider), {
        callback: (_e, msg) => {
          const r = decodeWith(this.#codec, IdentityChangeS, msg.data);
          if (E.isRight(r)) handler(r.right);
        },
      }),
    );
  }

  /**
   * Receipts for messages this provider's users sent: delivered (from the hub) and read/played
   * (end to end, already checked by the ratchet). They are queued like messages: the ratchet
   * keeps them until the handler resolves, and a handler that throws makes them come again.
   * An app must serve this (the receipts sit in the sender's device queues between its
   * messages, and a queue does not move past what the app has not taken).
   */
  onReceipts(handler: (r: InboundReceipts) => void | Promise<void>): void {
    this.#receipts = handler;
    this.#serveReceipts();
  }

  #receipts: ((r: InboundReceipts) => void | Promise<void>) | undefined;
  #receiptsServed = false;

  /**
   * Receipts are queued with the device's messages, so an app that never takes them would stall
   * its queue: they are served (and acked) as soon as the app listens for messages, and handed
   * to the `onReceipts` handler once there is one.
   */
  #serveReceipts(): void {
    if (this.#receiptsServed) return;
    this.#receiptsServed = true;
    this.#serve(requestSubject(Service.Ratchet, "receipts", this.provider), (bytes) => {
      const r = decodeWith(this.#codec, InboundReceiptsS, bytes);
      if (E.isLeft(r)) return Promise.reject(new Error("undecodable receipts"));
      return Promise.resolve().then(() => this.#receipts?.(r.right));
    });
  }

  #serve(subject: string, handle: (bytes: Uint8Array) => Promise<void>): void {
    this.#subs.push(
      this.#nc.subscribe(subject, {
        queue: `app.${this.provider}`,
        callback: (_e, msg) => {
          handle(msg.data).then(
            () => msg.respond(this.#codec.encode(okReply({}))),
            () => msg.respond(this.#codec.encode(errReply({ code: "app_failed", message: "the app did not take the message", retryable: true }))),
          );
        },
      }),
    );
  }

  async close(): Promise<void> {
    for (const s of this.#subs) s.unsubscribe();
    this.client.close();
  }
}
