import * as E from "fp-ts/lib/Either.js";
import type { Either } from "fp-ts/lib/Either.js";
import type { Logger, Requester, ServiceError } from "@interlink/actor";
import { ActorSystem, ErrorCode, serviceError } from "@interlink/actor";
import type { InterlinkClient, QueuedMessage } from "@interlink/client";
import { Service, requestSubject } from "@interlink/subjects";
import type { Schema } from "@interlink/wire";
import { decodeContent } from "@interlink/wire";
import type { DeviceSecrets } from "../records.js";
import type { SessionEngine } from "./engine.js";

const anyReply: Schema<unknown> = { name: "ack", decode: (u) => E.right(u) };

export interface ReceiverDeps {
  readonly client: InterlinkClient;
  /** Talks to the provider's app on its own NATS. */
  readonly app: Requester;
  readonly engine: SessionEngine;
  readonly log: Logger;
}

/**
 * Drains a hosted device's queue: decrypt, hand the plaintext to the app, and only when the app
 * has answered, save the advanced session and ack to delivery. A message the app did not take is
 * decrypted again next time; one that cannot be decrypted is reported to the app and acked so it
 * does not block the queue.
 */
export class Receiver {
  readonly #drains = new ActorSystem<never>({ capacity: 2, idleMs: 30_000 });

  constructor(private readonly d: ReceiverDeps) {}

  /** Coalesces: while a drain runs, one more is queued at most; further triggers are dropped. */
  trigger(dev: DeviceSecrets): void {
    void this.#drains.ask(`${dev.user}/${dev.device}`, () => this.#drain(dev)).then((r) => {
      if (E.isLeft(r) && r.left.code !== ErrorCode.Overloaded) this.d.log.warn("drain stopped", { code: r.left.code });
    });
  }

  async #drain(dev: DeviceSecrets): Promise<Either<ServiceError, number>> {
    let handled = 0;
    for (;;) {
      const batch = await this.d.client.delivery.pull({ user: dev.user, device: dev.device, max: 64 });
      if (E.isLeft(batch)) return batch;
      const acks: number[] = [];
      let stop: ServiceError | undefined;
      for (const m of batch.right.messages) {
        const r = await this.#one(dev, m);
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

  /** Right: the message is done with (delivered, or reported as undecryptable). Left: try later. */
  async #one(dev: DeviceSecrets, m: QueuedMessage): Promise<Either<ServiceError, void>> {
    const provider = this.d.client.provider;
    const to = { user: dev.user, device: dev.device };
    const r = await this.d.engine.decrypt(dev, m, async (plaintext) => {
      const content = decodeContent(plaintext);
      if (E.isLeft(content)) return E.left(serviceError("bad_content", "decrypted content does not decode"));
      const delivered = await this.d.app.call(requestSubject(Service.Ratchet, "message", provider), { v: 1, to, from: m.from, content: content.right }, anyReply);
      return E.map(() => undefined)(delivered);
    });
    if (E.isLeft(r)) return r;
    const failed = r.right;
    if (failed !== undefined) {
      // Undecryptable, or a replay of a message already decrypted (`duplicated_message`): the app
      // hears of it (no content) and the queue moves on.
      await this.d.app.call(requestSubject(Service.Ratchet, "error", provider), { v: 1, to, from: m.from, id: m.id, code: failed }, anyReply);
    }
    return E.right(undefined);
  }

  close(): Promise<void> {
    return this.#drains.close();
  }
}
