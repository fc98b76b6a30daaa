import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { Logger, Requester, ServiceError } from "@interlink/actor";
import { ActorSystem, ErrorCode, serviceError } from "@interlink/actor";
import type { InterlinkClient, PulledMessage, QueuedMessage, QueuedReceipts, Receipt } from "@interlink/client";
import { RatchetErrorCode } from "@interlink/client";
import { Service, requestSubject } from "@interlink/subjects";
import type { Content, Schema } from "@interlink/wire";
import { decodeContent } from "@interlink/wire";
import type { DeviceSecrets } from "../records.js";
import type { ReceiptPrefs, SentLog } from "../sent-log.js";
import type { DrainLeases } from "../drain-lease.js";
import type { SessionEngine } from "./engine.js";

/** The drain did not run: another instance holds the device's lease. */
const BUSY = -1;

const anyReply: Schema<unknown> = { name: "ack", decode: (u) => E.right(u) };

export interface ReceiverDeps {
  readonly client: InterlinkClient;
  /** Talks to the provider's app on its own NATS. */
  readonly app: Requester;
  readonly engine: SessionEngine;
  readonly log: Logger;
  /** What this edge's users sent: end-to-end receipts are checked against it. */
  readonly sentLog: SentLog;
  readonly prefs: ReceiptPrefs;
  /** One instance of this provider's edge drains a device at a time. */
  readonly leases: DrainLeases;
}

type ReceiptBody = Extract<Content["body"], { t: "receipt" }>;

/**
 * Drains a hosted device's queue: decrypt, hand the plaintext to the app, and only when the app
 * has answered, save the advanced session and ack to delivery. A message the app did not take is
 * decrypted again next time; one that cannot be decrypted is reported to the app and acked so it
 * does not block the queue.
 *
 * Receipts arrive two ways and reach the app the same way (`ilk.ratchet.v1.receipts.<p>`, a
 * request the app acks, like a message): delivered receipts as the hub's receipt messages in the
 * queue, read and played receipts as end-to-end content from the recipient, believed only for
 * messages the sent log says went to that recipient (others are dropped and reported as
 * `forged_receipt`).
 */
export class Receiver {
  readonly #drains = new ActorSystem<never>({ capacity: 2, idleMs: 30_000 });

  constructor(private readonly d: ReceiverDeps) {}

  /** Coalesces: while a drain runs, one more is queued at most; further triggers are dropped. */
  trigger(dev: DeviceSecrets): void {
    void this.#drains.ask(`${dev.user}/${dev.device}`, () => this.#drain(dev)).then((r) => {
      if (E.isLeft(r) && r.left.code !== ErrorCode.Overloaded) this.d.log.warn("drain stopped", { code: r.left.code });
      // Another instance is draining: what arrived meanwhile may come after its last pull, so
      // look again shortly (its lease is released when it is done).
      if (E.isRight(r) && r.right === BUSY && !this.#closed) setTimeout(() => this.#closed || this.trigger(dev), 500).unref();
    });
  }

  async #drain(dev: DeviceSecrets): Promise<Either<ServiceError, number>> {
    if (!(await this.d.leases.acquire(dev))) return E.right(BUSY);
    try {
      return await this.#drainHeld(dev);
    } finally {
      await this.d.leases.release(dev);
    }
  }

  async #drainHeld(dev: DeviceSecrets): Promise<Either<ServiceError, number>> {
    let handled = 0;
    for (;;) {
      // Renewed every batch; a batch takes far less than the lease.
      if (handled > 0 && !(await this.d.leases.acquire(dev))) return E.right(handled);
      const batch = await this.d.client.delivery.pullAll({ user: dev.user, device: dev.device, max: 64 });
      if (E.isLeft(batch)) return batch;
      const acks: number[] = [];
      let stop: ServiceError | undefined;
      for (const m of batch.right.messages) {
        const r = await this.#handle(dev, m);
        if (E.isLeft(r)) {
          stop = r.left;
          break;
        }
        acks.push(m.seq);
      }
      if (acks.length > 0) {
        const a = await this.d.client.delivery.ack({ user: dev.user, device: dev.device, seqs: acks });
        if (E.isLeft(a)) return a;
        handled += acks.length;
      }
      if (stop !== undefined) return E.left(stop);
      if (!batch.right.more) return E.right(handled);
    }
  }

  #handle(dev: DeviceSecrets, m: PulledMessage): Promise<Either<ServiceError, void>> {
    return m.kind === "receipts" ? this.#hubReceipts(dev, m) : this.#one(dev, m);
  }

  /** The app's answer is the ack: until then the receipt message stays queued. */
  async #toApp(dev: DeviceSecrets, receipts: readonly Receipt[]): Promise<Either<ServiceError, void>> {
    const provider = this.d.client.provider;
    const body = { v: 1, user: dev.user, device: dev.device, receipts };
    return E.map(() => undefined)(await this.d.app.call(requestSubject(Service.Ratchet, "receipts", provider), body, anyReply));
  }

  /** Delivered receipts, batched by the hub's receipt service for this device's user. */
  #hubReceipts(dev: DeviceSecrets, m: QueuedReceipts): Promise<Either<ServiceError, void>> {
    return this.#toApp(dev, m.receipts);
  }

  /** Right: the message is done with (delivered, or reported as undecryptable). Left: try later. */
  async #one(dev: DeviceSecrets, m: QueuedMessage): Promise<Either<ServiceError, void>> {
    const provider = this.d.client.provider;
    const to = { user: dev.user, device: dev.device };
    const r = await this.d.engine.decrypt(dev, m, async (plaintext) => {
      const content = decodeContent(plaintext);
      if (E.isLeft(content)) return E.left(serviceError("bad_content", "decrypted content does not decode"));
      const c = content.right;
      // A receipt for something this user sent. (The user's own other device telling this one
      // what it marked read carries `sentTo`: that is a sync, and goes to the app as a message.)
      const sync = c.sentTo !== undefined && m.from.provider === provider && m.from.user === dev.user;
      if (c.body.t === "receipt" && !sync) return this.#e2eReceipt(dev, m, c.body, c.sentAt);
      const delivered = await this.d.app.call(requestSubject(Service.Ratchet, "message", provider), { v: 1, to, from: m.from, content: c }, anyReply);
      return E.map(() => undefined)(delivered);
    });
    if (E.isLeft(r)) return r;
    const failed = r.right;
    if (failed !== undefined) {
      // Undecryptable, or a replay of a message already decrypted (`duplicated_message`): the app
      // hears of it (no content) and the queue moves on.
      await this.#reportError(dev, m, failed);
    }
    return E.right(undefined);
  }

  #reportError(dev: DeviceSecrets, m: QueuedMessage, code: string): Promise<unknown> {
    const to = { user: dev.user, device: dev.device };
    return this.d.app.call(requestSubject(Service.Ratchet, "error", this.d.client.provider), { v: 1, to, from: m.from, id: m.id, code }, anyReply);
  }

  /**
   * A read/played (or delivered) receipt sent end to end by `m.from`: each target must be a
   * message this user sent to `m.from`'s user. Genuine ones are recorded in the sent log (for
   * the status query) and handed to the app; the others are dropped and reported once as
   * `forged_receipt`. With read receipts off for this user, read receipts are neither recorded
   * nor shown (checked all the same).
   */
  async #e2eReceipt(dev: DeviceSecrets, m: QueuedMessage, body: ReceiptBody, at: number): Promise<Either<ServiceError, void>> {
    let show = true;
    if (body.status === "read") {
      const on = await this.d.prefs.readReceipts(dev.user);
      if (E.isLeft(on)) return on;
      show = on.right;
    }
    const genuine: Receipt[] = [];
    let forged = 0;
    for (const id of new Set(body.targets)) {
      const checked = await this.d.sentLog.check(dev.user, id, m.from, body.status, at, show);
      if (E.isLeft(checked)) return checked;
      if (checked.right === "forged") forged++;
      else genuine.push({ id, status: body.status, by: m.from, at });
    }
    if (show && genuine.length > 0) {
      const taken = await this.#toApp(dev, genuine);
      if (E.isLeft(taken)) return taken;
    }
    if (forged > 0) {
      this.d.log.warn("receipt for a message not sent to its sender dropped", { targets: forged });
      await this.#reportError(dev, m, RatchetErrorCode.ForgedReceipt);
    }
    return E.right(undefined);
  }

  #closed = false;

  close(): Promise<void> {
    this.#closed = true;
    return this.#drains.close();
  }
}
